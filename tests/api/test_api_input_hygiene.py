"""Bad input is a 400 (or 413) in the API's JSON error shape, never a 500, and writes nothing
(issue 12, finding 3): lone UTF-16 surrogates and NUL characters in any JSON string, bodies
nested too deeply, bodies over DATA_UPLOAD_MAX_MEMORY_SIZE.

Requests go through Django's test client with ``raise_request_exception=False``, so a server
error comes back as the 500 a client would see (as with DEBUG=False) instead of raising."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from catalog.hygiene import first_text_problem, text_problem
from inventory_site.api import json_depth
from tests.stock.factories import ledger_snapshot

RECEIPT = {
    "kind": "receipt",
    "sku": "WIDGET",
    "quantity": "1",
    "warehouse": "A",
    "to_location": "BIN-1",
    "unit_cost": "2",
}


@pytest.fixture
def post(admin_user):
    """``post(url, raw_body)``: a superuser's token request; 500s come back as responses."""
    client = Client(raise_request_exception=False)
    token = Token.objects.get_or_create(user=admin_user)[0].key

    def send(url: str, body: str | bytes):
        return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")

    return send


def _with(field: str, escaped: str) -> str:
    """The receipt as JSON text with ``field`` set to ``x`` + a raw JSON escape (json.dumps
    would not write a lone surrogate escape the way a hostile client does)."""
    return json.dumps(RECEIPT)[:-1] + f', "{field}": "x{escaped}"' + "}"


# --- lone surrogates and NUL characters --------------------------------------------------------------


@pytest.mark.parametrize("field", ["kind", "sku", "reason", "lot", "to_location"])
@pytest.mark.parametrize("escaped", ["\\ud800", "\\udfff", "\\u0000"])
def test_a_lone_surrogate_or_nul_in_a_movement_field_is_a_400_naming_the_field(world, post, field, escaped):
    # Today "kind" with a surrogate is a 500: the choice field's message echoes the surrogate
    # and the JSON renderer cannot encode it.
    before = ledger_snapshot()
    response = post("/api/v1/movements/", _with(field, escaped))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_characters"
    assert list(body["fields"]) == [field]
    assert field in body["detail"]
    assert ledger_snapshot() == before


@pytest.mark.parametrize("escaped", ["\\ud800", "\\u0000"])
def test_a_bad_character_in_a_bulk_line_names_the_line_and_field(world, post, escaped):
    before = ledger_snapshot()
    good = json.dumps(RECEIPT)
    body = '{"lines": [' + good + ", " + _with("kind", escaped) + "]}"
    response = post("/api/v1/movements/bulk/", body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_characters"
    assert list(response.json()["fields"]) == ["lines.1.kind"]  # the second line (index 1)
    assert ledger_snapshot() == before  # the good first line was not posted either


def test_a_lone_surrogate_in_a_key_is_refused_too(world, post):
    response = post("/api/v1/sales/", '{"reference": "R", "warehouse": "A", "\\ud800": 1, "lines": []}')
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_characters"


# --- nesting -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000,  # 100 kB: far under the size limit
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        '{"lines": ' + "[" * 40 + "]" * 40 + "}",  # 41 levels: just over the limit of 32
    ],
    ids=["100k-arrays", "5000-objects", "41-levels"],
)
@pytest.mark.parametrize("url", ["/api/v1/movements/", "/api/v1/movements/bulk/"])
def test_json_nested_too_deeply_is_a_400_naming_the_limit(world, post, url, body):
    before = ledger_snapshot()
    response = post(url, body)
    assert response.status_code == 400
    assert response.json()["code"] == "nesting_too_deep"
    assert response.json()["max_depth"] == 32
    assert "32 levels" in response.json()["detail"]
    assert ledger_snapshot() == before


def test_brackets_inside_strings_do_not_count_as_nesting(world, post):
    # 33 "[" (over the limit of 32) inside the reason are text, not nesting: it posts (depth 1).
    response = post("/api/v1/movements/", json.dumps({**RECEIPT, "reason": "[" * 33 + '\\"{'}))
    assert response.status_code == 201, response.content


def test_an_unclosed_string_of_escaped_quotes_is_refused(world, post):
    # 2.5 MB, just under the limit: one quote, then 1,250,000 escaped quotes, never closed. A
    # regular expression for JSON strings took minutes on it (quadratic); the byte scan of
    # ``json_depth`` is a few whole-buffer operations (about 0.1 s here). No timing assert: a
    # quadratic scan would show as this test taking minutes.
    body = b'"' + b'\\"' * 1_250_000
    response = post("/api/v1/movements/", body)
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b"{}", 1),
        (b'{"a": [1, "]]]", {"b": "\\\\"}]}', 3),  # { [ {: the brackets in "]]]" are text
        (b'["\\\\", ["\\"["]]', 2),  # an escaped backslash ends before the quote; \" is a quote in text
        (b"[" * 100_000, 100_000),
    ],
)
def test_json_depth_counts_brackets_outside_strings(body, depth):
    assert json_depth(body) == depth


# --- size --------------------------------------------------------------------------------------------


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_size_limit_is_a_413_in_the_api_error_shape(world, post):
    before = ledger_snapshot()
    response = post("/api/v1/movements/", json.dumps({**RECEIPT, "reason": "x" * 2000}))
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"  # not Django's HTML "Bad Request (400)"
    assert response.json()["code"] == "body_too_large"
    assert response.json()["limit"] == 1000
    assert ledger_snapshot() == before


# --- the rule itself ---------------------------------------------------------------------------------


def test_text_problem_names_nul_surrogates_and_length():
    assert text_problem("ok", max_length=2) is None
    assert "NUL" in text_problem("a\x00b")
    assert "U+D800" in text_problem("a\ud800")
    assert "U+DFFF" in text_problem("\udfff")
    assert text_problem("abc", max_length=2) == "is 3 characters long; at most 2 fit"
    assert text_problem("\U0001f600") is None  # a real character outside the BMP is fine


def test_first_text_problem_walks_keys_and_values_without_recursion():
    deep: list = []
    node = deep
    for _ in range(10_000):  # deeper than Python's recursion limit
        node.append([])
        node = node[0]
    node.append("\x00")
    where, _ = first_text_problem(deep)
    assert where == ".".join(["0"] * 10_001)
    assert first_text_problem({"a": [1, "b", {"c": None}]}) is None
    assert first_text_problem({"a\x00": 1})[0] == "(body)"

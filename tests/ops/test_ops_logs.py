"""JSON logs with a request id (inventory_site/logs.py): the caller's X-Request-ID when sane,
else a new one; echoed in the response; on every log line written while the request runs."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.test import Client

from inventory_site.logs import JsonFormatter, RequestIdFilter, current_request_id, request_id_from

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_sane_request_id_is_echoed():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42:9_x")
    assert response["X-Request-ID"] == "lb-7f3a.42:9_x"


@pytest.mark.parametrize(
    "sent",
    [
        "",
        "x" * 129,  # too long to be an id
        'abc"}{"level": "CRITICAL',  # would forge a field in a text log
        "a b",
        "id\u00e9",
    ],
)
def test_an_insane_request_id_is_replaced_by_a_new_one(sent):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=sent)
    assert GENERATED.fullmatch(response["X-Request-ID"])
    assert response["X-Request-ID"] != sent


def test_no_header_gets_a_new_id_per_request_on_every_page():
    first = Client().get("/admin/")["X-Request-ID"]
    second = Client().get("/admin/")["X-Request-ID"]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
    assert first != second


def test_log_lines_written_during_a_request_carry_its_id_as_json(monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("inventory_site.health")
    logger.addHandler(handler)
    from inventory_site import health

    monkeypatch.setattr(health, "broker_answers", lambda: 1 / 0)  # logs a warning with a traceback
    try:
        Client().get("/readyz", HTTP_X_REQUEST_ID="req-1")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    assert lines, "the failed check was logged"
    entry = lines[0]
    assert entry["request_id"] == "req-1"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "inventory_site.health"
    assert entry["message"] == "Readiness check broker failed"
    assert "ZeroDivisionError" in entry["exception"]
    assert entry["time"].endswith("+00:00")
    assert current_request_id() == "-"  # the id does not outlive its request


def test_formatter_escapes_a_message_so_each_record_stays_one_json_line():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, 'bad "quote"\nnew line', None, None)
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["message"] == 'bad "quote"\nnew line'
    assert json.loads(line)["request_id"] == "-"


def test_request_id_from_keeps_only_sane_values():
    assert request_id_from("abc") == "abc"
    assert GENERATED.fullmatch(request_id_from(None))

"""The OpenAPI 3 schema at /api/v1/schema/, the browsable docs (Swagger UI and Redoc, served
from static files: no CDN), the browsable API's login, and ``manage.py create_api_token``."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common import roles

ENDPOINTS = {
    "/api/v1/items/": {"get"},
    "/api/v1/items/{id}/": {"get"},
    "/api/v1/categories/": {"get"},
    "/api/v1/categories/{id}/": {"get"},
    "/api/v1/warehouses/": {"get"},
    "/api/v1/warehouses/{id}/": {"get"},
    "/api/v1/locations/": {"get"},
    "/api/v1/locations/{id}/": {"get"},
    "/api/v1/lots/": {"get"},
    "/api/v1/lots/{id}/": {"get"},
    "/api/v1/stock-levels/": {"get"},
    "/api/v1/movements/": {"get", "post"},
    "/api/v1/movements/{id}/": {"get"},
    "/api/v1/movements/bulk/": {"post"},
    "/api/v1/movements/{id}/reverse/": {"post"},
    "/api/v1/reservations/": {"get", "post"},
    "/api/v1/reservations/{id}/": {"get"},
    "/api/v1/reservations/{id}/release/": {"post"},
    "/api/v1/value-entries/": {"post"},
    "/api/v1/reservations/{id}/consume/": {"post"},
    "/api/v1/sales/": {"post"},
    "/api/v1/returns/": {"post"},
    "/api/v1/suppliers/": {"get"},
    "/api/v1/suppliers/{id}/": {"get"},
    "/api/v1/purchase-orders/": {"get", "post"},
    "/api/v1/purchase-orders/{id}/": {"get"},
    "/api/v1/purchase-orders/{id}/place/": {"post"},
    "/api/v1/purchase-orders/{id}/cancel/": {"post"},
    "/api/v1/purchase-orders/{id}/send/": {"post"},
    "/api/v1/purchase-orders/{id}/return/": {"post"},
    "/api/v1/purchase-orders/{id}/receive/": {"post"},
    "/api/v1/counts/": {"get", "post"},
    "/api/v1/counts/{id}/": {"get"},
    "/api/v1/counts/{id}/lines/": {"post"},
    "/api/v1/counts/{id}/submit/": {"post"},
    "/api/v1/counts/{id}/lines/{line_id}/approve/": {"post"},
    "/api/v1/counts/{id}/lines/{line_id}/reject/": {"post"},
    "/api/v1/reorder-suggestions/": {"get"},
    "/api/v1/transfers/": {"get", "post"},
    "/api/v1/transfers/{id}/arrive/": {"post"},
    "/api/v1/reports/": {"get"},
    "/api/v1/reports/{name}/": {"get"},
}


@pytest.fixture
def reader(db) -> APIClient:
    """A signed-in client: the schema and docs are not public by default (API_DOCS_PUBLIC)."""
    client = APIClient()
    client.force_login(User.objects.create_user("schema-reader"))
    return client


@pytest.fixture
def schema(reader) -> dict:
    response = reader.get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_is_valid_openapi_3_with_every_endpoint(schema):
    validate_schema(schema)

    assert schema["openapi"].startswith("3.")
    assert {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()} == ENDPOINTS
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_every_operation_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "401", "403", "404"} <= statuses, (method, path)
            if method == "post":
                assert {"409", "415", "422"} <= statuses, (method, path)
                assert "Idempotency-Key" in {p["name"] for p in operation.get("parameters", [])}, path
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "detail"]


def test_quantities_are_numbers_or_decimal_strings_in_requests_and_strings_in_responses(schema):
    components = schema["components"]["schemas"]

    line = components["SaleLineRequest"]["properties"]["quantity"]
    assert [choice["type"] for choice in line["oneOf"]] == ["number", "string"]
    assert components["PostingLine"]["properties"]["available"]["type"] == "string"
    assert components["Movement"]["properties"]["quantity"]["type"] == "string"


def test_the_schema_as_json(reader):
    response = reader.get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Perpetual inventory API"


@pytest.mark.parametrize("page", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_docs_pages_load_their_assets_from_static_files(reader, page):
    response = reader.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    # No asset from another host: no src/href to one, no CDN host named (a bare "cdn" could be
    # part of a random token in the page).
    assert not re.search(r'(?:src|href)=["\']?(?:https?:)?//', html, re.IGNORECASE)
    assert not re.search(r"cdn\.|jsdelivr|unpkg", html, re.IGNORECASE)
    assert "/api/v1/schema/" in html


def test_the_browsable_api_has_a_login_page(db):
    response = APIClient().get("/api/v1/auth/login/")

    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content


# --- manage.py create_api_token -------------------------------------------------------------------


def _token(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip()


def test_create_api_token_prints_a_working_token(world, user):
    clerk = user(roles.WAREHOUSE_CLERK)

    key = _token(clerk.username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert key == Token.objects.get(user=clerk).key
    assert _token(clerk.username) == key  # printed again, not replaced
    assert client.get("/api/v1/warehouses/").json()["count"] == 1


def test_create_api_token_reset_replaces_the_token(world, user):
    clerk = user(roles.WAREHOUSE_CLERK)
    old = _token(clerk.username)

    new = _token(clerk.username, "--reset")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")

    assert new != old
    assert client.get("/api/v1/items/").status_code == 401


def test_create_api_token_refuses_unknown_and_inactive_users(world, user):
    inactive = user(roles.WAREHOUSE_CLERK)
    inactive.is_active = False
    inactive.save()

    with pytest.raises(CommandError, match="No user"):
        _token("nobody-here")
    with pytest.raises(CommandError, match="inactive"):
        _token(inactive.username)


def test_an_administrator_creates_tokens_in_the_admin(world, user):
    administrator = user(roles.ADMINISTRATOR)
    clerk = user(roles.WAREHOUSE_CLERK)
    client = APIClient()
    client.force_login(administrator)

    page = client.get("/admin/authtoken/tokenproxy/add/")
    created = client.post("/admin/authtoken/tokenproxy/add/", {"user": clerk.pk}, format="multipart")

    assert page.status_code == 200
    assert created.status_code == 302, created.content[:500]
    assert Token.objects.filter(user=clerk).exists()

"""Property-based fuzzing of the whole API from its own OpenAPI schema (Schemathesis 4): for
every operation, the schema's examples and generated requests (valid and invalid) sent as a
superuser through Django's WSGI handler. No answer may be a 5xx, and every answer (status,
content type, body) must conform to the schema.

The examples of the schema name the demo business (warehouse AMS, bin A-01-01, item KNF-001
with barcode 8719327000021), so the world here has those too: the examples post real sales,
receipts and reservations, and their 201 answers are checked against the schema as well.

Bounded for the suite: at most 20 generated examples per operation (and per phase), derandomized
(the same requests on every run and on both databases).

The hostile classes of issue 12 (finding 3) are sent to every operation that takes a body, as
raw bytes the generator would not produce: NUL characters and lone UTF-16 surrogates in JSON
strings, 100,000 nested arrays and 5,000 nested objects, and a body over
DATA_UPLOAD_MAX_MEMORY_SIZE. Each answer is checked like the generated ones (no 5xx, a
documented status, the Error schema), and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (  # the registry of built-in checks
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from catalog.models import Barcode, Item, Location, Warehouse
from counting.services import count_start
from purchasing.models import Supplier
from purchasing.services import OrderLine, purchase_order_create, purchase_order_place
from stock import services
from stock.models import Lot
from tests.stock.factories import ledger_snapshot

MAX_EXAMPLES = 20

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260101,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "mode": "all"},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": False}},
    }
)
# The schema as /api/v1/schema/ serves it, generated in process (no request, no database).
SCHEMA = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))),
    config=CONFIG,
)
SCHEMA.app = WSGIHandler()
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def in_test_transaction() -> Iterator[None]:
    """Requests reach Django's real WSGI handler; like Django's test client, keep it from closing
    the connection between requests, so they run inside the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def demo(world) -> dict:
    """A superuser's token, the demo names the schema's examples use (with stock), and an
    existing object of each resource by the first segment of its path."""
    warehouse = Warehouse.objects.create(code="AMS", name="Amsterdam")
    location = Location.objects.create(warehouse=warehouse, code="A-01-01", barcode="LOC-AMS-A-01-01")
    knife = Item.objects.create(sku="KNF-001", name="Chef's knife", base_unit=world["widget"].base_unit)
    other = Item.objects.create(sku="KNF-002", name="Santoku knife", base_unit=world["widget"].base_unit)
    Barcode.objects.create(item=other, code="8719327000021")
    receipts = [
        services.stock_receive(item=item, location=location, quantity=Decimal(100), unit_cost=Decimal(5), actor=None)
        for item in (knife, other)
    ]
    reservation = services.reservation_create(item=knife, warehouse=warehouse, quantity=Decimal(50), actor=None)
    supplier = Supplier.objects.create(code="NORDIC", name="Nordic Homeware")
    order = purchase_order_place(
        order=purchase_order_create(
            supplier=supplier, warehouse=warehouse, lines=[OrderLine(knife, Decimal(50))], actor=None
        ),
        actor=None,
    )
    count = count_start(warehouse=warehouse, locations=[location], actor=None)
    rotterdam = Warehouse.objects.create(code="RTM", name="Rotterdam")
    Location.objects.create(warehouse=rotterdam, code="A-01-01", barcode="LOC-RTM-A-01-01")
    shipment = services.transfer_ship(
        item=other, quantity=Decimal(5), source=location, to_warehouse=rotterdam, actor=None
    )
    user = User.objects.create_superuser("fuzzer", password=None)
    return {
        "token": Token.objects.create(user=user).key,
        "ids": {
            "categories": world["kitchen"].pk,
            "items": knife.pk,
            "locations": location.pk,
            "lots": Lot.objects.get(code="L-LATE").pk,
            "movements": receipts[1].pk,
            "reservations": reservation.pk,
            "warehouses": warehouse.pk,
            "suppliers": supplier.pk,
            "purchase-orders": order.pk,
            "counts": count.pk,
            "transfers": shipment.pk,
        },
        "line_id": count.lines.first().pk,
    }


def _path_parameters(path: str, demo: dict) -> dict:
    """Ids of objects that exist for the path's parameters."""
    found = {"id": demo["ids"][path.split("/")[3]]} if "{id}" in path else {}
    if "{line_id}" in path:
        found["line_id"] = demo["line_id"]
    return found


@SCHEMA.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_answer_is_a_server_error_and_every_answer_conforms_to_the_schema(case, demo, in_test_transaction):
    headers = {"Authorization": f"Token {demo['token']}"}
    case.call_and_validate(headers=headers, checks=CHECKS)
    if "{id}" in case.path:
        # Generated ids almost never exist: send the same request to an object that does.
        case.path_parameters = _path_parameters(case.path, demo)
        case.call_and_validate(headers=headers, checks=CHECKS)


# --- Hostile bodies (issue 12, finding 3) -----------------------------------------------------------

_STRINGS = ("reference", "sku", "warehouse", "location", "lot", "reason", "kind", "code", "name", "supplier")


def _strings(escape: str) -> bytes:
    """A JSON object whose usual string fields (and a line's) all carry ``escape`` as a raw JSON
    escape; json.dumps would spell a lone surrogate the same way, but not as plainly."""
    fields = ", ".join(f'"{name}": "x{escape}"' for name in _STRINGS)
    return ("{" + fields + ', "lines": [{' + fields + "}]}").encode()


def _oversize() -> bytes:
    return b'{"reference": "' + b"x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'


HOSTILE = {
    # class: (raw body, the error code every operation with a JSON body must answer)
    "nul": (lambda: _strings("\\u0000"), "invalid_characters"),
    "surrogate": (lambda: _strings("\\ud800"), "invalid_characters"),
    "deep-arrays": (lambda: b"[" * 100_000, "nesting_too_deep"),
    "deep-objects": (lambda: b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "nesting_too_deep"),
    "oversize": (_oversize, "body_too_large"),
}
BODY_OPERATIONS = [
    result.ok()
    for result in SCHEMA.get_all_operations()
    if result.ok().method.upper() in ("POST", "PUT", "PATCH") and result.ok().definition.raw.get("requestBody")
]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_hostile_bodies_are_refused_in_the_error_shape_and_write_nothing(operation, kind, demo, in_test_transaction):
    body, code = HOSTILE[kind]
    path_parameters = _path_parameters(operation.path, demo)
    case = operation.Case(media_type="application/json", path_parameters=path_parameters)
    before = ledger_snapshot()

    response = case.call_and_validate(
        headers={"Authorization": f"Token {demo['token']}", "Content-Type": "application/json"},
        checks=CHECKS,
        data=body(),
    )

    assert response.status_code in (400, 413), response.content[:300]
    assert response.json()["code"] == code
    assert ledger_snapshot() == before

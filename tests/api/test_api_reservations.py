"""/api/v1/reservations/: what an e-commerce order needs from placing (create: stock is held) to
shipping (consume: the held stock is issued) or cancelling (release: it is given back)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from common import roles
from stock import services
from stock.models import Movement, Reservation
from stock.selectors import stock_on_hand
from tests.stock.factories import ledger_snapshot

RESERVATIONS = "/api/v1/reservations/"


def order(**overrides: object) -> dict:
    return {"sku": "WIDGET", "warehouse": "A", "quantity": "3", "reference": "ORDER-1", **overrides}


def test_an_order_is_reserved_consumed_and_the_rest_released(world, admin_api):
    created = admin_api.post(RESERVATIONS, order())
    assert created.status_code == 201, created.json()
    reservation = created.json()
    assert (reservation["status"], reservation["quantity"], reservation["open_quantity"]) == (
        "open",
        "3.0000",
        "3.0000",
    )
    assert reservation["lines"] == [{"location": "BIN-1", "lot": None, "quantity": "3.0000"}]
    assert stock_on_hand(item=world["widget"], warehouse=world["A"]["warehouse"]).reserved == Decimal(3)

    consumed = admin_api.post(f"{RESERVATIONS}{reservation['id']}/consume/", {"quantity": "2"})
    assert consumed.status_code == 201, consumed.json()
    assert consumed.json()["reservation"]["consumed"] == "2.0000"
    assert [(m["kind"], m["quantity"], m["reference"]) for m in consumed.json()["movements"]] == [
        ("issue", "2.0000", "ORDER-1")
    ]

    released = admin_api.post(f"{RESERVATIONS}{reservation['id']}/release/", {})
    assert released.status_code == 200, released.json()
    assert (released.json()["status"], released.json()["released"], released.json()["open_quantity"]) == (
        "consumed",
        "1.0000",
        "0.0000",
    )
    stock = stock_on_hand(item=world["widget"], warehouse=world["A"]["warehouse"])
    assert (stock.on_hand, stock.reserved) == (Decimal(13), Decimal(0))


def test_a_cancelled_order_is_released(world, admin_api):
    reservation = admin_api.post(RESERVATIONS, order()).json()

    response = admin_api.post(f"{RESERVATIONS}{reservation['id']}/release/", {"quantity": 3})

    assert (response.status_code, response.json()["status"]) == (200, "released")
    assert stock_on_hand(item=world["widget"], warehouse=world["A"]["warehouse"]).reserved == Decimal(0)


def test_reserving_at_a_location_and_lot(world, admin_api):
    response = admin_api.post(
        RESERVATIONS, order(sku="MILK", quantity="2", location="LOC-A-1", lot="L-LATE", reference_line="3")
    )

    assert response.status_code == 201, response.json()
    assert (response.json()["location"], response.json()["lot"], response.json()["reference_line"]) == (
        "BIN-1",
        "L-LATE",
        "3",
    )


def test_more_than_available_is_409(world, admin_api):
    before = ledger_snapshot()

    response = admin_api.post(RESERVATIONS, order(quantity="16"))

    assert (response.status_code, response.json()["code"], response.json()["sku"]) == (
        409,
        "insufficient_stock",
        "WIDGET",
    )
    assert ledger_snapshot() == before


def test_taking_more_than_is_open_is_invalid(world, admin_api):
    reservation = admin_api.post(RESERVATIONS, order()).json()

    consume = admin_api.post(f"{RESERVATIONS}{reservation['id']}/consume/", {"quantity": "4"})
    admin_api.post(f"{RESERVATIONS}{reservation['id']}/release/", {})
    release = admin_api.post(f"{RESERVATIONS}{reservation['id']}/release/", {})

    assert (consume.status_code, consume.json()["code"]) == (400, "invalid_movement")
    assert (release.status_code, release.json()["code"]) == (400, "invalid_movement")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (order(quantity="0"), "validation_error"),
        (order(warehouse=None), "validation_error"),
        (order(sku="NOPE"), "unknown_sku"),
        (order(warehouse="ZZ"), "unknown_warehouse"),
        (order(location="NOWHERE"), "unknown_location"),
        (order(lot="NO-LOT"), "invalid_movement"),
    ],
)
def test_bad_reservations(world, admin_api, body, code):
    response = admin_api.post(RESERVATIONS, {k: v for k, v in body.items() if v is not None})

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert not Reservation.objects.exists()


def test_list_filter_and_retrieve(world, admin_api):
    first = admin_api.post(RESERVATIONS, order(reference="ORDER-1")).json()
    admin_api.post(RESERVATIONS, order(reference="ORDER-2", quantity=1))

    assert admin_api.get(RESERVATIONS).json()["count"] == 2
    assert [r["id"] for r in admin_api.get(f"{RESERVATIONS}?reference=ORDER-1").json()["results"]] == [first["id"]]
    assert admin_api.get(f"{RESERVATIONS}?status=open&sku=widget&warehouse=a").json()["count"] == 2
    assert admin_api.get(f"{RESERVATIONS}{first['id']}/").json()["reference"] == "ORDER-1"
    assert admin_api.get(f"{RESERVATIONS}?status=lost").json()["code"] == "validation_error"


# --- Permissions ----------------------------------------------------------------------------------

ALLOWED = {  # role -> (own warehouse A, other warehouse B)
    roles.ADMINISTRATOR: (True, True),
    roles.INVENTORY_MANAGER: (True, False),
    roles.WAREHOUSE_CLERK: (True, False),
    roles.PURCHASING_MANAGER: (False, False),
    roles.AUDITOR: (False, False),
    None: (False, False),
}


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize("where", ["A", "B"])
def test_who_may_reserve_where(world, user, api, role, where):
    allowed = ALLOWED[role][0 if where == "A" else 1]

    response = api(user(role)).post(RESERVATIONS, order(warehouse=where))

    if allowed:
        assert response.status_code == 201, response.json()
    else:
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        assert not Reservation.objects.exists()


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize("step", ["release", "consume"])
def test_who_may_release_and_consume(world, user, api, role, step):
    reservation = services.reservation_create(
        item=world["widget"], warehouse=world["A"]["warehouse"], quantity=Decimal(2), actor=None
    )

    response = api(user(role)).post(f"{RESERVATIONS}{reservation.pk}/{step}/", {})

    if ALLOWED[role][0]:
        assert response.status_code in (200, 201), response.json()
    else:
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
        reservation.refresh_from_db()
        assert reservation.status == "open"
        assert not Movement.objects.filter(kind="issue").exists()


def test_another_warehouses_reservation_is_404(world, user, api):
    other = services.reservation_create(
        item=world["widget"], warehouse=world["B"]["warehouse"], quantity=Decimal(2), actor=None
    )
    clerk = api(user(roles.WAREHOUSE_CLERK))

    assert clerk.get(f"{RESERVATIONS}{other.pk}/").status_code == 404
    assert clerk.post(f"{RESERVATIONS}{other.pk}/consume/", {}).status_code == 404
    assert clerk.get(RESERVATIONS).json()["count"] == 0

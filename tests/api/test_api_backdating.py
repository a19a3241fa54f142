"""The back-dating window through the API (issue 12, 5): a clerk's sale dated 0001-01-01 is a
400 naming the limit, nothing written; a manager who may adjust stock there may post it."""

from __future__ import annotations

from decimal import Decimal

from inventory_site import roles
from stock.models import Movement
from stock.selectors import stock_available
from tests.stock.factories import ledger_snapshot

SALES = "/api/v1/sales/"
MOVEMENTS = "/api/v1/movements/"
YEAR_ONE = "0001-01-01T00:00:00Z"


def sale(occurred_at: str) -> dict:
    return {
        "reference": "ORDER-1",
        "warehouse": "A",
        "occurred_at": occurred_at,
        "lines": [{"sku": "WIDGET", "quantity": "2"}],
    }


def test_a_clerks_sale_dated_year_one_is_a_400_and_writes_nothing(world, user, api):
    clerk = api(user(roles.WAREHOUSE_CLERK))
    before = ledger_snapshot()

    response = clerk.post(SALES, sale(YEAR_ONE))

    assert response.status_code == 400, response.content  # before: 201, a sale in year one
    assert response.json() == {
        "code": "backdated_too_far",
        "detail": "occurred_at 0001-01-01 is more than 7 days back; posting further back needs the adjust "
        "permission in A.",
    }
    assert ledger_snapshot() == before


def test_the_bulk_movement_door_applies_the_same_window(world, user, api):
    clerk = api(user(roles.WAREHOUSE_CLERK))
    before = ledger_snapshot()
    body = {
        "occurred_at": YEAR_ONE,
        "lines": [{"kind": "receipt", "sku": "WIDGET", "quantity": "1", "warehouse": "A", "to_location": "BIN-1"}],
    }

    response = clerk.post(f"{MOVEMENTS}bulk/", body)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "backdated_too_far"
    assert ledger_snapshot() == before


def test_a_manager_who_may_adjust_in_a_may_post_it(world, user, api):
    manager = api(user(roles.INVENTORY_MANAGER))

    response = manager.post(SALES, sale(YEAR_ONE))

    assert response.status_code == 201, response.content
    assert Movement.objects.get(pk=response.json()["movements"][0]).occurred_at.year == 1
    # 15 WIDGET in A (10 + 5), minus 2 sold = 13
    assert stock_available(item=world["widget"], warehouse=world["A"]["warehouse"]) == Decimal(13)

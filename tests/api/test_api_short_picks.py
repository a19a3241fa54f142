"""Short picks through the API (issue 15): an issue or a sale refused because the bin it names
holds too little records a ``ShortPick`` (the 409 and "nothing posted" are unchanged); a FEFO
sale short across the warehouse, a transfer, and a request refused before the stock is looked
at record none. World (tests/api/conftest.py): WIDGET 10 in A/BIN-1 and 5 in A/BIN-2."""

from __future__ import annotations

from decimal import Decimal

from common import roles
from stock.models import ShortPick
from tests.stock.factories import ledger_snapshot

SALES = "/api/v1/sales/"
MOVEMENTS = "/api/v1/movements/"


def sale(*lines: dict, warehouse: str = "A") -> dict:
    return {"reference": "ORDER-7", "warehouse": warehouse, "lines": list(lines)}


def test_a_sale_naming_a_bin_with_too_little_records_the_short_pick(world, admin_api, admin_user):
    before = ledger_snapshot()
    response = admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "7", "location": "BIN-2"}))
    assert response.status_code == 409
    assert (response.json()["asked"], response.json()["available"]) == ("7.0000", "5.0000")
    assert ledger_snapshot() == before  # nothing posted
    short = ShortPick.objects.get()
    assert (short.item, short.location, short.lot, short.asked, short.available, short.by, short.source) == (
        world["widget"],
        world["A"]["bin2"],
        None,
        Decimal(7),
        Decimal(5),
        admin_user,
        "api",
    )
    # The same sale again the same day: the 409 again, no second record.
    assert admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "7", "location": "BIN-2"})).status_code == 409
    assert ShortPick.objects.count() == 1


def test_a_fefo_sale_short_across_the_warehouse_records_nothing(world, admin_api):
    response = admin_api.post(SALES, sale({"sku": "WIDGET", "quantity": "16"}))  # 10 + 5 = 15 in A
    assert response.status_code == 409
    assert not ShortPick.objects.exists()


def test_an_issue_from_a_bin_with_too_little_records_it_and_a_transfer_does_not(world, admin_api):
    issue = {"kind": "issue", "sku": "WIDGET", "quantity": "6", "warehouse": "A", "from_location": "BIN-2"}
    assert admin_api.post(MOVEMENTS, issue).status_code == 409
    transfer = {**issue, "kind": "transfer", "to_location": "BIN-1"}
    assert admin_api.post(MOVEMENTS, transfer).status_code == 409
    assert [(s.location.code, s.asked, s.available) for s in ShortPick.objects.all()] == [
        ("BIN-2", Decimal(6), Decimal(5))
    ]


def test_a_bulk_of_issues_records_the_short_bin(world, admin_api):
    line = {"kind": "issue", "sku": "WIDGET", "quantity": "11", "warehouse": "A", "from_location": "BIN-1"}
    response = admin_api.post(f"{MOVEMENTS}bulk/", {"lines": [line]}, format="json")
    assert response.status_code == 409
    assert [(s.location.code, s.asked, s.available) for s in ShortPick.objects.all()] == [
        ("BIN-1", Decimal(11), Decimal(10))
    ]


def test_a_clerk_refused_in_another_warehouse_records_nothing(world, user, api):
    clerk = api(user(roles.WAREHOUSE_CLERK))
    response = clerk.post(SALES, sale({"sku": "WIDGET", "quantity": "999", "location": "BIN-1"}, warehouse="B"))
    assert response.status_code == 403  # refused before the stock is looked at
    assert not ShortPick.objects.exists()

"""The reports that read counting and purchasing (``abc``, ``record-accuracy``,
``supplier-performance``), on the hand-worked ledger of tests/reports/conftest.py plus a few
postings of their own; every number is worked out beside its step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Item
from common import roles
from counting.services import abc_classify, count_line_record, count_start, count_submit
from purchasing.models import Supplier, SupplierItem
from purchasing.services import OrderLine, Receipt, purchase_order_create, purchase_order_place, purchase_order_receive
from reports.dashboard import dashboard_context
from reports.framework import get_report, run_report
from stock import services
from tests.reports.conftest import noon

D = Decimal


def run(name: str, user, **params):  # noqa: ANN001, ANN201
    return run_report(get_report(name), user, params)


@pytest.fixture
def classed(ledger) -> dict:
    """Warehouse A classed as of 2025-03-01 from the issues of the 365 days before:
    GADGET 7 x 12.00 = 84.00, WIDGET 4 at average 3.00 = 12.00 (the ledger's issue of 2025-02-05),
    BOLT 4 x 1.00 = 4.00; total 100.00. Sorted by value, the share before each item: GADGET 0 %
    (< 80: A), WIDGET 84 % (< 95: B), BOLT 96 % (C)."""
    a1, each = ledger["A1"], ledger["each"]
    made = {}
    for sku, cost, issued in (("GADGET", D(12), D(7)), ("BOLT", D(1), D(4))):
        item = Item.objects.create(sku=sku, name=sku.title(), base_unit=each)
        services.stock_receive(
            item=item, location=a1, quantity=D(10), unit_cost=cost, actor=None, occurred_at=noon("2025-02-01")
        )
        services.stock_issue(item=item, location=a1, quantity=issued, actor=None, occurred_at=noon("2025-02-02"))
        made[sku] = item
    abc_classify(warehouse=ledger["A"], actor=None, at=noon("2025-03-01"))
    return made


def test_abc_lists_the_classes_with_each_class_share_of_items_and_value(classed, manager):
    result = run("abc", manager)
    assert [(r["warehouse"], r["sku"], r["abc_class"], r["consumption_value"]) for r in result.rows] == [
        ("A", "GADGET", "A", D("84.0000")),
        ("A", "WIDGET", "B", D("12.0000")),
        ("A", "BOLT", "C", D("4.0000")),
    ]  # B has no classes yet: no rows
    totals = result.totals
    assert totals["consumption_value"] == D("100.0000")
    third = D("0.3333")  # 1 item of 3
    assert totals["classes"] == {
        "A": {"items": 1, "share_of_items": third, "value": D("84.0000"), "share_of_value": D("0.8400")},
        "B": {"items": 1, "share_of_items": third, "value": D("12.0000"), "share_of_value": D("0.1200")},
        "C": {"items": 1, "share_of_items": third, "value": D("4.0000"), "share_of_value": D("0.0400")},
    }


def test_abc_follows_the_item_filter_and_the_users_warehouses(classed, user, api_for):
    only_b = user(roles.INVENTORY_MANAGER, ("B",), username="b_manager")
    assert run("abc", only_b).rows == []  # A's classes are out of sight
    result = run("abc", user(roles.INVENTORY_MANAGER, ("A",), username="a_manager"), sku="BOLT")
    assert [r["sku"] for r in result.rows] == ["BOLT"]
    assert result.totals["classes"]["C"]["share_of_items"] == D("1.0000")  # 1 of 1
    response = api_for(only_b).get("/api/v1/reports/abc/", {"warehouse": "A"})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["warehouse"]


def test_record_accuracy_counts_first_counts_within_tolerance(ledger, manager):
    """A count of A1 and A2 now: A1 counted 11 (the book says 11: within), A2 counted 0 (the
    book says 6: a variance of -6, beyond any tolerance, off to a recount). 1 of 2 lines within:
    accuracy 0.5000 for warehouse A, class C (unclassed items are C)."""
    widget = ledger["widget"]
    count = count_start(warehouse=ledger["A"], locations=[ledger["A1"], ledger["A2"]], actor=None)
    for bin_, counted in ((ledger["A1"], "11"), (ledger["A2"], "0")):
        count_line_record(count=count, location=bin_, item=widget, quantity=D(counted), actor=None)
    count_submit(count=count, actor=None)
    today = timezone.localdate()
    period = {"date_from": (today - timedelta(days=1)).isoformat(), "date_to": today.isoformat()}
    result = run("record-accuracy", manager, **period)
    assert [(r["warehouse"], r["abc_class"], r["lines"], r["within"], r["accuracy"]) for r in result.rows] == [
        ("A", "C", 2, 1, D("0.5000"))
    ]
    assert (result.totals["lines"], result.totals["within"], result.totals["accuracy"]) == (2, 1, D("0.5000"))
    # The dashboard's tile is this month's figure: 50.0 %.
    tiles = {t.key: t for t in dashboard_context(manager)["dashboard"]["tiles"]}
    assert tiles["accuracy"].value == "50.0 %" and tiles["accuracy"].note.startswith("1 of 2")
    # A period before the count holds none of it.
    assert run("record-accuracy", manager, date_from="2025-01-01", date_to="2025-01-31").rows == []


def test_supplier_performance_from_received_orders(ledger, manager):
    """One order of 10 widgets at 2.20 against the offer's 2.00, received in full: 1 line, in
    full 1.0000, price variance 10 x 2.20 / (10 x 2.00) - 1 = 0.1000."""
    supplier = Supplier.objects.create(code="ACME", name="Acme")
    SupplierItem.objects.create(supplier=supplier, item=ledger["widget"], unit_cost=D("2.00"))
    order = purchase_order_place(
        order=purchase_order_create(
            supplier=supplier,
            warehouse=ledger["A"],
            lines=[OrderLine(ledger["widget"], D(10), unit_cost=D("2.20"))],
            actor=None,
        ),
        actor=None,
    )
    line = order.lines.get()
    purchase_order_receive(
        order=order, receipts=[Receipt(line=line, quantity=D(10), location=ledger["A1"])], actor=None
    )
    today = timezone.localdate()
    result = run("supplier-performance", manager, date_from=today.isoformat(), date_to=today.isoformat())
    (row,) = result.rows
    assert (row["supplier"], row["lines"], row["in_full_rate"], row["price_variance"]) == (
        "ACME",
        1,
        D("1.0000"),
        D("0.1000"),
    )
    assert run("supplier-performance", manager, warehouse="B", date_from=today.isoformat()).rows == []


@pytest.mark.parametrize("name", ["no-such-report", "a%0Ab", "%F2%AB%B0%BE%0A%C2%8F"])
def test_an_unknown_report_name_is_a_json_404_even_with_a_newline(ledger, manager, api_for, name):
    """The fuzzer found a report name holding a newline answered with Django's HTML page: every
    path below /api/v1/ is the API's JSON 404."""
    response = api_for(manager).get(f"/api/v1/reports/{name}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json()["code"] == "not_found"

"""The inventory journal attributes the share of a landed cost or price difference that went
straight to cost of goods sold (posted from the supplier to the customer location: no warehouse
on either side) to the warehouse of the receipt it names, and still adds up.

The hand-worked ledger of tests/reports/conftest.py, February 2025: A opens at 60 (20 @ avg 3),
issues 4 (12), scraps 1 (3), finds 2 (+6): 51. B receives 8 @ 5.00 (40) on 02-12 and issues all
8 (40) on 02-20: 0. Added here, by the system (back-dating allowed):

| when       | what                                                        | to A's stock | to cost of goods sold |
|------------|-------------------------------------------------------------|--------------|-----------------------|
| 2025-02-25 | freight 4.00 on B's receipt: 0 of its 8 left in B           |              | 4.00 (B's receipt)     |
| 2025-02-26 | price difference +2.00 on A's 01-15 receipt: A holds 17 >= 10 | 2.00        |                       |
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.test import override_settings

from common import roles
from reports.framework import get_report, run_report
from stock import services
from stock.models import Movement, MovementKind

D = Decimal
FEB = {"date_from": "2025-02-01", "date_to": "2025-02-28"}


def noon(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC)


def journal(user, **params):  # noqa: ANN001, ANN201
    return run_report(get_report("inventory-journal"), user, params or FEB)


def rows(result) -> list[tuple]:  # noqa: ANN001
    return [(r["warehouse"], r["section"], r["kind"], r["account"], r["value"]) for r in result.rows]


def post_entries(ledger: dict) -> tuple[Movement, Movement]:
    receipt_b = Movement.objects.get(kind=MovementKind.RECEIPT, destination=ledger["B1"])
    receipt_a = Movement.objects.get(kind=MovementKind.RECEIPT, destination=ledger["A1"], unit_cost=D(4))
    [freight] = services.receipts_revalue(
        kind=MovementKind.LANDED_COST,
        shares=[(receipt_b, D("4.00"))],
        reason_code="freight",
        actor=None,
        occurred_at=noon("2025-02-25"),
    )
    [difference] = services.receipts_revalue(
        kind=MovementKind.PRICE_DIFFERENCE,
        shares=[(receipt_a, D("2.00"))],
        reason_code="invoice",
        actor=None,
        occurred_at=noon("2025-02-26"),
    )
    return freight, difference


@override_settings(INVENTORY_JOURNAL_ACCOUNTS={"issue": "COGS-1", "receipt": "INV-1", "landed_cost": "LC-1"})
def test_the_sold_share_is_cost_of_goods_sold_of_the_receipts_warehouse(ledger, manager):
    freight, difference = post_entries(ledger)
    # The freight went wholly to cost of goods sold (B held none of the receipt any more); the
    # price difference wholly to A's stock.
    assert (freight.source.kind, freight.destination.kind, freight.total_cost) == ("supplier", "customer", D(4))
    assert (difference.destination, difference.total_cost) == (ledger["A1"], D(2))

    result = journal(manager)

    assert rows(result) == [
        ("A", "cost_of_goods_sold", "issue", "COGS-1", D(-12)),  # 4 x 3
        ("A", "adjustments_and_scrap", "adjustment", "", D(6)),  # +2 x 3
        ("A", "adjustments_and_scrap", "scrap", "", D(-3)),  # 1 x 3
        ("A", "value_only", "price_difference", "", D(2)),  # into A's stock
        ("B", "receipts", "receipt", "INV-1", D(40)),  # 8 x 5
        ("B", "cost_of_goods_sold", "issue", "COGS-1", D(-40)),  # 8 x 5
        ("B", "cost_of_goods_sold", "landed_cost", "COGS-1", D(-4)),  # the freight on what B had sold
        ("B", "value_only", "landed_cost", "LC-1", D(4)),  # ... as if it entered B's stock first
    ]
    totals = result.totals
    assert totals["opening_value"] == D(60)  # A 60, B 0
    assert totals["receipts"] == D(40)
    assert totals["cost_of_goods_sold"] == D(56)  # 12 + 40 + 4
    assert totals["adjustments_and_scrap"] == D(3)  # 6 - 3
    assert totals["value_only"] == D(6)  # 2 + 4
    assert totals["closing_value"] == D(53)  # A 51 + 2, B 0
    assert totals["balanced"] is True  # 60 + 40 - 56 + 3 + 6 = 53


def test_a_reversed_sold_share_leaves_nothing(ledger, manager):
    freight, _difference = post_entries(ledger)
    services.movement_reverse(movement=freight, reason="wrong invoice", actor=None, occurred_at=noon("2025-02-27"))

    result = journal(manager)

    # +4 and its reversal -4 in the same month: no landed-cost row for B.
    assert [r for r in rows(result) if r[0] == "B"] == [
        ("B", "receipts", "receipt", "1400", D(40)),
        ("B", "cost_of_goods_sold", "issue", "5000", D(-40)),
    ]
    assert (result.totals["cost_of_goods_sold"], result.totals["value_only"]) == (D(52), D(2))
    assert result.totals["balanced"] is True  # 60 + 40 - 52 + 3 + 2 = 53


def test_the_sold_share_is_counted_in_the_month_it_was_posted_and_only_there(ledger, manager):
    post_entries(ledger)

    january = journal(manager, date_from="2025-01-01", date_to="2025-01-31")
    march = journal(manager, date_from="2025-03-01", date_to="2025-03-31")

    assert all(r[2] == "receipt" for r in rows(january))  # January's two receipts only
    assert rows(march) == [] and march.totals["balanced"] is True


def test_a_user_of_another_warehouse_does_not_see_it(ledger, user):
    post_entries(ledger)
    only_a = user(roles.INVENTORY_MANAGER, ("A",), username="a_only")

    result = journal(only_a)

    assert {r[0] for r in rows(result)} == {"A"}
    assert "landed_cost" not in {r[2] for r in rows(result)}
    assert result.totals["cost_of_goods_sold"] == D(12) and result.totals["balanced"] is True


def test_turnover_counts_the_sold_share_as_cost_of_goods_sold_as_the_journal_does(ledger, manager):
    post_entries(ledger)

    result = run_report(get_report("turnover"), manager, FEB)
    a, b = result.rows

    # A: opening 60, closing 51 + the price difference 2 = 53, average (60 + 53) / 2 = 56.5;
    # sold 12 (4 x 3): 12 / 56.5 = 0.2124 -> 0.21; 56.5 x 28 days / 12 = 131.83 -> 131.8.
    assert (a["warehouse"], a["closing_value"], a["average_value"], a["cost_of_goods_sold"]) == (
        "A",
        D(53),
        D("56.5"),
        D(12),
    )
    assert (a["turnover"], a["days_of_inventory"]) == (D("0.21"), D("131.8"))
    # B: the 8 issued (40) and the freight on what B had sold (4): 44; nothing at either end.
    assert (b["warehouse"], b["cost_of_goods_sold"], b["turnover"], b["days_of_inventory"]) == ("B", D(44), None, D(0))
    # All: sold 12 + 44 = 56, the journal's cost of goods sold; 56 / 56.5 = 0.991 -> 0.99;
    # 56.5 x 28 / 56 = 28.25 -> 28.3.
    assert result.totals["cost_of_goods_sold"] == D(56)
    assert -sum(r["value"] for r in journal(manager).rows if r["section"] == "cost_of_goods_sold") == D(56)
    assert (result.totals["turnover"], result.totals["days_of_inventory"]) == (D("0.99"), D("28.3"))

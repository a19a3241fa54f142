"""The dashboard's weekly trends (``reports.dashboard.trends``) on the hand-worked ledger of
tests/reports/conftest.py plus two postings made now (so in the last of the 12 weeks): value
that crosses between warehouses moves the value of each, never the cost of goods sold."""

from __future__ import annotations

from decimal import Decimal

from common import roles
from reports.dashboard import WEEKS, trends
from stock import services

D = Decimal


def post_this_week(ledger: dict) -> None:
    # A holds 17 worth 51 (average 3), B nothing (conftest). Now: move 5 from A1 to B1 (15 leaves
    # A and enters B), then issue 2 from A1 at average 3 (6 sold).
    services.stock_transfer(
        item=ledger["widget"], source=ledger["A1"], destination=ledger["B1"], quantity=D(5), actor=None
    )
    services.stock_issue(item=ledger["widget"], location=ledger["A1"], quantity=D(2), actor=None)


def test_trends_for_every_warehouse(ledger, manager):
    post_this_week(ledger)
    found = trends(manager)
    assert len(found["labels"]) == WEEKS
    # Value now: A 17 - 5 - 2 = 10 at 3 = 30, B 5 worth 15: 45. This week's net crossing: the
    # transfer -15 + 15 = 0, the issue -6; so every earlier week ended at 45 + 6 = 51.
    assert found["value"] == [51.0] * (WEEKS - 1) + [45.0]
    assert found["cogs"] == [0.0] * (WEEKS - 1) + [6.0]  # the issue only, not the transfer


def test_trends_of_one_warehouse_count_a_transfer_as_value_in_or_out(ledger, user):
    post_this_week(ledger)
    only_a = trends(user(roles.INVENTORY_MANAGER, ("A",), username="a_manager"))
    # A now 30; this week -15 (transfer out) - 6 (issue) = -21: earlier weeks ended at 51.
    assert only_a["value"] == [51.0] * (WEEKS - 1) + [30.0]
    assert only_a["cogs"] == [0.0] * (WEEKS - 1) + [6.0]
    only_b = trends(user(roles.INVENTORY_MANAGER, ("B",), username="b_manager"))
    # B now 15, all of it in by this week's transfer: 0 at the end of every earlier week; no sale.
    assert only_b["value"] == [0.0] * (WEEKS - 1) + [15.0]
    assert only_b["cogs"] == [0.0] * WEEKS


def test_the_weeks_cost_of_goods_sold_nets_reversals_and_counts_sold_shares_of_landed_costs(ledger, manager):
    from stock.models import Movement, MovementKind

    receipt_b = Movement.objects.get(kind=MovementKind.RECEIPT, destination=ledger["B1"])  # all 8 sold in February
    services.receipts_revalue(
        kind=MovementKind.LANDED_COST, shares=[(receipt_b, D("4.00"))], reason_code="freight", actor=None
    )  # B holds none of that receipt (nothing at all): the 4.00 goes straight to cost of goods sold, now
    post_this_week(ledger)
    issue = Movement.objects.filter(kind=MovementKind.ISSUE).latest("pk")  # this week's 2 at 3 = 6
    services.movement_reverse(movement=issue, actor=None, reason="keyed twice")  # -6: nothing sold now

    found = trends(manager)

    # This week: the issue 6, its reversal -6, the freight's share 4: 4. Value: A back to 10 + 2
    # = 12 at 3 = 36, B 15: 51 now, as at the end of every earlier week (the freight moved none).
    assert found["cogs"] == [0.0] * (WEEKS - 1) + [4.0]
    assert found["value"] == [51.0] * WEEKS

"""Each report on the hand-worked ledger of tests/reports/conftest.py (the table there gives
every posting and the quantity and value after it); the numbers below are worked out from it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from common import roles
from reports.framework import REPORTS, get_report, run_report
from stock import services

D = Decimal
FEB = {"date_from": "2025-02-01", "date_to": "2025-02-28"}


def run(name: str, user, **params):  # noqa: ANN001, ANN201
    return run_report(get_report(name), user, params)


def pick(rows: list[dict], *keys: str) -> list[tuple]:
    return [tuple(row[k] for k in keys) for row in rows]


def test_every_report_of_the_issue_is_registered():
    get_report("valuation")  # loads the catalogue
    expected = {"stock-on-hand", "valuation", "inventory-journal", "turnover", "stock-outs", "slow-moving"}
    assert expected | {"expiring", "shrinkage"} <= set(REPORTS)


def test_stock_on_hand_now_by_bin_with_value_shared_by_quantity(ledger, manager):
    result = run("stock-on-hand", manager)
    # A holds 17 worth 51 (average 3): A1 11 -> 33, A2 6 -> 18; B1 is empty and not listed.
    assert pick(result.rows, "warehouse", "location", "quantity", "value") == [
        ("A", "A1", D(11), D(33)),
        ("A", "A2", D(6), D(18)),
    ]
    assert result.totals["value"] == D(51)  # 33 + 18
    assert result.totals["quantity"] == D(17)  # 11 + 6, one unit


def test_stock_on_hand_now_reads_its_names_with_its_quantities(ledger, manager, user):
    # Nothing moved after now: the rows come from the projection in one query, names and unit
    # joined there; they must be the ones the as-of path (the balances, names looked up) gives.
    from reports.catalogue.stock_on_hand import _as_of_location_rows
    from reports.framework import parse_query
    from reports.ledger import current_location_rows, location_quantities

    result = run("stock-on-hand", manager)
    assert result.rows[0] == {
        "sku": "WIDGET",
        "name": "Widget",
        "category": "Home > Kitchen",
        "warehouse": "A",
        "location": "A1",
        "lot": "",
        "expiry_date": None,
        "quantity": D(11),  # 10 - 5 + 10 - 4
        "unit": "each",
        "value": D(33),  # 11 of A's 17 worth 51: 11 x 3
    }
    query = parse_query(get_report("stock-on-hand"), manager, {})
    as_of_rows = _as_of_location_rows(query, location_quantities(query, query.as_of))
    assert sorted(current_location_rows(query)) == sorted(as_of_rows)
    only_b = user(roles.INVENTORY_MANAGER, ("B",), username="b_now")
    assert run("stock-on-hand", only_b).rows == []  # B1 is empty now; A's bins are not theirs


def test_stock_on_hand_as_of_a_day_is_its_end(ledger, manager):
    result = run("stock-on-hand", manager, as_of="2025-01-31")
    # After the move of 01-20: A1 20 - 5 = 15, A2 5; A worth 60 for 20 (avg 3): 45 and 15.
    assert pick(result.rows, "location", "quantity", "value") == [("A1", D(15), D(45)), ("A2", D(5), D(15))]
    assert result.totals["value"] == D(60)


def test_stock_on_hand_as_of_a_moment_inside_a_day(ledger, manager):
    # 2025-02-20 11:59: before the adjustment (+2 at A2) and B's issue, both at 12:00.
    result = run("stock-on-hand", manager, as_of="2025-02-20T11:59:00+00:00")
    assert pick(result.rows, "warehouse", "location", "quantity", "value") == [
        ("A", "A1", D(11), D(33)),  # 10 - 5 + 10 - 4
        ("A", "A2", D(4), D(12)),  # 5 - 1 scrapped; A: 15 worth 45 (avg 3)
        ("B", "B1", D(8), D(40)),  # received 8 @ 5 on 02-12
    ]
    assert result.totals["value"] == D(85)  # 33 + 12 + 40


def test_valuation_as_of_and_its_totals(ledger, manager):
    result = run("valuation", manager, as_of="2025-02-15")
    # A: 20 - 4 issued - 1 scrapped = 15 worth 60 - 12 - 3 = 45; B: 8 worth 40.
    assert pick(result.rows, "warehouse", "quantity", "unit_cost", "value") == [
        ("A", D(15), D(3), D(45)),
        ("B", D(8), D(5), D(40)),
    ]
    assert result.totals["value"] == D(85)
    assert result.totals["by_warehouse"] == {"A": D(45), "B": D(40)}
    assert result.totals["by_category"] == {"Home > Kitchen": D(85)}


@override_settings(INVENTORY_JOURNAL_ACCOUNTS={"issue": "COGS-1", "receipt": "INV-1"})
def test_inventory_journal_adds_up_with_configured_accounts(ledger, manager):
    result = run("inventory-journal", manager, **FEB)
    assert pick(result.rows, "warehouse", "section", "kind", "account", "value") == [
        ("A", "cost_of_goods_sold", "issue", "COGS-1", D(-12)),  # 4 x 3
        ("A", "adjustments_and_scrap", "adjustment", "", D(6)),  # +2 x 3 (no code configured)
        ("A", "adjustments_and_scrap", "scrap", "", D(-3)),  # 1 x 3
        ("B", "receipts", "receipt", "INV-1", D(40)),  # 8 x 5
        ("B", "cost_of_goods_sold", "issue", "COGS-1", D(-40)),  # 8 x 5
    ]
    totals = result.totals
    assert totals["opening_value"] == D(60)  # January's two receipts: 20 + 40
    assert totals["receipts"] == D(40)
    assert totals["cost_of_goods_sold"] == D(52)  # 12 + 40
    assert totals["adjustments_and_scrap"] == D(3)  # 6 - 3
    assert totals["transfers"] == totals["value_only"] == D(0)
    assert totals["closing_value"] == D(51)  # 60 + 40 - 52 + 3
    assert totals["balanced"] is True


def test_inventory_journal_leaves_out_moves_inside_a_warehouse(ledger, manager):
    result = run("inventory-journal", manager, date_from="2025-01-01", date_to="2025-01-31")
    # Two receipts (20 + 40); the move A1 -> A2 of 01-20 carries no value across A's boundary.
    assert pick(result.rows, "warehouse", "kind", "value") == [("A", "receipt", D(60))]
    assert (result.totals["opening_value"], result.totals["closing_value"]) == (D(0), D(60))


def test_inventory_journal_counts_a_reversal_in_the_reversed_kind(ledger, manager):
    issue = ledger["widget"].movements.get(kind="issue", source=ledger["A1"])
    services.movement_reverse(movement=issue, reason="typed the wrong quantity", actor=None)
    today = timezone.localdate()
    result = run("inventory-journal", manager, date_from=today.isoformat(), date_to=today.isoformat())
    # The reversal brings the 4 (worth 12) back today: cost of goods sold -12, no "reversal" row.
    assert pick(result.rows, "warehouse", "kind", "value") == [("A", "issue", D(12))]
    assert result.totals["cost_of_goods_sold"] == D(-12)
    assert result.totals["closing_value"] == D(63)  # 51 + 12
    assert result.totals["balanced"] is True


def test_turnover_and_days_of_inventory(ledger, manager):
    result = run("turnover", manager, **FEB)
    a, b = result.rows
    # A: opening 60, closing 51, average 55.5; cost of goods sold 12 -> 12 / 55.5 = 0.216 -> 0.22;
    # days of inventory = 55.5 x 28 days / 12 = 129.5.
    assert (a["warehouse"], a["average_value"], a["cost_of_goods_sold"]) == ("A", D("55.5"), D(12))
    assert (a["turnover"], a["days_of_inventory"]) == (D("0.22"), D("129.5"))
    # B: nothing at either end, 40 sold: no average to divide by; 0 x 28 / 40 = 0 days.
    assert (b["average_value"], b["cost_of_goods_sold"], b["turnover"], b["days_of_inventory"]) == (
        D(0),
        D(40),
        None,
        D(0),
    )
    # All: average (60 + 51) / 2 = 55.5, sold 52: 52 / 55.5 = 0.937 -> 0.94; 55.5 x 28 / 52 = 29.88 -> 29.9.
    assert (result.totals["turnover"], result.totals["days_of_inventory"]) == (D("0.94"), D("29.9"))


def test_stock_outs_with_their_length_and_the_demand_lost(ledger, manager):
    result = run("stock-outs", manager, **FEB)
    rows = result.rows
    # B had nothing from 02-01 00:00 until the receipt on 02-12 12:00 (11.5 days) and again from
    # the issue on 02-20 12:00 to the end of February (03-01 00:00: 8.5 days). In stock 28 - 20 =
    # 8 days, 8 issued: 1 a day, so 11.5 and 8.5 lost. A never ran out.
    assert pick(rows, "warehouse", "days_out", "daily_demand", "demand_lost") == [
        ("B", D("11.5"), D(1), D("11.50")),
        ("B", D("8.5"), D(1), D("8.50")),
    ]
    assert rows[1]["out_until"] is None  # still out at the end of the period
    assert result.totals["days_out"] == D(20)
    assert result.totals["still_out_at_end"] == 1


def test_stock_outs_replays_only_the_pairs_whose_outflows_reach_their_opening(ledger, manager, monkeypatch):
    from reports.catalogue import stock_outs
    from reports.framework import parse_query

    query = parse_query(get_report("stock-outs"), manager, FEB)
    widget, a, b = ledger["widget"].pk, ledger["A"].pk, ledger["B"].pk
    # February's crossings out: A issued 4 (02-05) and scrapped 1 (02-10); the move A1 -> A2 of
    # January and the +2 found at A2 are not outflows. B issued its 8 (02-20).
    assert stock_outs._outflows(query, query.start, query.end) == {(widget, a): D(-5), (widget, b): D(-8)}
    # A opens February with 20 (10 + 10): 20 - 5 > 0, it cannot run out; B opens with 0.
    replayed = []
    real = stock_outs.out_intervals
    monkeypatch.setattr(
        stock_outs,
        "out_intervals",
        lambda opening, changes, *rest: replayed.append(opening) or real(opening, changes, *rest),
    )
    rows = run("stock-outs", manager, **FEB).rows
    assert replayed == [D(0)]  # only B's pair was replayed
    assert {row["warehouse"] for row in rows} == {"B"}


def test_slow_moving_buckets_and_value_tied_up(ledger, manager):
    result = run("slow-moving", manager)
    # Only A holds stock (17 worth 51); its last issue was 2025-02-05, far more than 180 days ago.
    assert pick(result.rows, "warehouse", "quantity", "value", "bucket") == [("A", D(17), D(51), "180+")]
    days = (timezone.now() - result.rows[0]["last_issue"]).days
    assert result.rows[0]["days_idle"] == days
    assert result.totals["by_bucket"] == {"30+": D(0), "90+": D(0), "180+": D(51)}


def test_slow_moving_leaves_out_what_was_issued_within_the_days(ledger, manager):
    services.stock_issue(item=ledger["widget"], location=ledger["A1"], quantity=D(1), actor=None)
    assert run("slow-moving", manager).rows == []  # issued just now: not idle for 30 days
    assert len(run("slow-moving", manager, days="1").rows) == 0


def test_shrinkage_by_reason_and_month(ledger, manager):
    result = run("shrinkage", manager, **FEB)
    assert pick(result.rows, "month", "warehouse", "kind", "reason", "quantity", "value") == [
        ("2025-02", "A", "adjustment", "found", D(2), D(6)),  # +2 x 3
        ("2025-02", "A", "scrap", "damaged", D(-1), D(-3)),  # 1 x 3 out
    ]
    assert result.totals["value"] == D(3)
    assert result.totals["value_by_reason"] == {"damaged": D(-3), "found": D(6)}


def test_shrinkage_counts_a_reversal_in_the_reversed_kind_and_reason(ledger, manager):
    scrap = ledger["widget"].movements.get(kind="scrap")
    services.movement_reverse(movement=scrap, reason="scrapped the wrong one", actor=None)
    today = timezone.localdate()
    result = run("shrinkage", manager, date_from=today.isoformat(), date_to=today.isoformat())
    # The reversal puts the scrapped 1 (worth 3) back into A2 today: scrap "damaged" +1, +3.
    assert pick(result.rows, "warehouse", "kind", "reason", "quantity", "value") == [
        ("A", "scrap", "damaged", D(1), D(3)),
    ]


def test_expiring_and_expired_lots(ledger, manager):
    milk = ledger["widget"].__class__.objects.create(
        sku="MILK", name="Milk", base_unit=ledger["each"], tracking="lot", perishable=True
    )
    today = timezone.localdate()
    receive = services.stock_receive
    receive(
        item=milk,
        location=ledger["A1"],
        quantity=D(3),
        unit_cost=D(1),
        lot="SOON",
        expiry_date=today + timedelta(days=5),
        actor=None,
    )
    receive(
        item=milk,
        location=ledger["A1"],
        quantity=D(2),
        unit_cost=D(1),
        lot="LATER",
        expiry_date=today + timedelta(days=60),
        actor=None,
    )
    result = run("expiring", manager, days="14")
    # Only SOON (5 days left) falls within 14 days: 3 of A's 5 milk, worth 5 x 1 -> 3.
    assert pick(result.rows, "lot", "days_left", "status", "quantity", "value") == [("SOON", 5, "expiring", D(3), D(3))]
    assert pick(run("expiring", manager, days="60").rows, "lot") == [("SOON",), ("LATER",)]
    assert run("expiring", manager, days="4").rows == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2025-13-01"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "2025-03-01", "date_to": "2025-02-01"}, "date_to"),
        ({"warehouse": "NOPE"}, "warehouse"),
        ({"sku": "NO-SUCH"}, "sku"),
        ({"category": "Garden"}, "category"),
    ],
)
def test_bad_filters_name_the_parameter(ledger, manager, params, field):
    with pytest.raises(ValidationError) as caught:
        run("inventory-journal", manager, **params)
    assert field in caught.value.message_dict


def test_bad_as_of_and_days_name_the_parameter(ledger, manager):
    with pytest.raises(ValidationError) as caught:
        run("stock-on-hand", manager, as_of="31/01/2025")
    assert list(caught.value.message_dict) == ["as_of"]
    with pytest.raises(ValidationError) as caught:
        run("expiring", manager, days="-3")
    assert list(caught.value.message_dict) == ["days"]


def test_a_user_sees_only_the_warehouses_they_may_view(ledger, user):
    only_b = user(roles.INVENTORY_MANAGER, ("B",), username="b_manager")
    result = run("stock-on-hand", only_b, as_of="2025-02-15")
    assert pick(result.rows, "warehouse", "quantity") == [("B", D(8))]  # A's 15 are not theirs
    journal = run("inventory-journal", only_b, **FEB)
    assert {row["warehouse"] for row in journal.rows} == {"B"}
    assert (journal.totals["opening_value"], journal.totals["closing_value"]) == (D(0), D(0))
    with pytest.raises(ValidationError) as caught:
        run("valuation", only_b, warehouse="A")  # another warehouse by name: refused, not shown
    assert "warehouse" in caught.value.message_dict


@pytest.mark.parametrize("name", ["stock-on-hand", "valuation", "turnover", "slow-moving", "shrinkage", "stock-outs"])
def test_every_report_is_scoped(ledger, user, name):
    nowhere = user(roles.INVENTORY_MANAGER, (), username="manager_of_nothing")
    result = run(name, nowhere, **(FEB if get_report(name).period else {}))
    assert result.rows == [] and result.totals["rows"] == 0


def test_clerks_may_not_read_reports(ledger, user):
    clerk = user(roles.WAREHOUSE_CLERK, username="a_clerk")
    with pytest.raises(PermissionDenied):
        run("valuation", clerk)


def test_the_filters_narrow_by_item_and_category(ledger, manager):
    assert run("valuation", manager, sku="widget", as_of="2025-02-15").totals["value"] == D(85)
    assert run("valuation", manager, category="Home > Kitchen").totals["value"] == D(51)
    assert run("valuation", manager, category="Home").totals["value"] == D(51)  # sub-categories count
    other = ledger["widget"].category.__class__.objects.create(name="Garden", path="Garden")
    assert run("valuation", manager, category=str(other.pk)).rows == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner settings")
def test_reports_read_without_jit_and_with_plans_for_their_parameters(ledger, manager):
    # A report's statements run again and again on a kept connection: after five runs psycopg
    # prepares them and the server may switch to a generic plan, which for "any movement
    # after now?" scanned the whole movement table (108 ms against 0.04 ms at 1M movements).
    from reports.framework import Column, Report

    class Settings(Report):
        name = "settings-probe"
        title = "Settings"
        columns = (Column("jit", "JIT"), Column("plans", "Plans"))

        def rows(self, query):  # noqa: ANN001, ANN202
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('jit'), current_setting('plan_cache_mode')")
                jit, plans = cursor.fetchone()
            return [{"jit": jit, "plans": plans}]

    assert run_report(Settings(), manager, {}).rows == [{"jit": "off", "plans": "force_custom_plan"}]

"""Period balances (stock.services.period_balances_close, stock.balances.balances_as_of): stock
and value as of any moment through a closed period's balances equal the full sum of the ledger,
across period boundaries (weeks and months) and after postings back-dated into closed periods
(property-based), from the close before, the close after and the projection alike; the nightly
close is idempotent and ``reconcile`` checks the latest close."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Item, Location, LocationKind, UnitOfMeasure, Warehouse
from stock import balances as balances_module
from stock.balances import balances_as_of, period_ends
from stock.models import Movement, PeriodBalance, PeriodClose
from stock.reconciliation import reconcile
from stock.services import (
    StockError,
    period_balances_close,
    stock_adjust,
    stock_issue,
    stock_receive,
    stock_transfer,
)
from tests.stock.factories import ensure_virtual_locations

D = Decimal
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 100  # postings over January to early April: three month boundaries, fourteen Mondays
BINS = ("A1", "A2", "B1")


@pytest.fixture
def world(db) -> dict:
    ensure_virtual_locations()
    each = UnitOfMeasure.objects.get_or_create(code="each", defaults={"name": "Each", "ratio": D(1)})[0]
    a, b = Warehouse.objects.create(code="A", name="A"), Warehouse.objects.create(code="B", name="B")
    bins = {
        "A1": Location.objects.create(warehouse=a, code="A1"),
        "A2": Location.objects.create(warehouse=a, code="A2"),
        "B1": Location.objects.create(warehouse=b, code="B1"),
    }
    items = [Item.objects.create(sku=f"I{n}", name=f"Item {n}", base_unit=each) for n in range(2)]
    return {"bins": bins, "items": items, "warehouses": [a.pk, b.pk]}


operation = st.tuples(
    st.sampled_from(["receive", "issue", "move", "adjust"]),
    st.integers(0, 1),  # item
    st.sampled_from(BINS),
    st.sampled_from(BINS),  # the other bin of a move
    st.integers(1, 9),  # quantity
    st.integers(1, 7),  # unit cost of a receipt
    st.integers(0, DAYS * 24 - 1),  # hour of the posting after START
)


def post(world: dict, op: tuple) -> None:
    kind, item_no, where, other, quantity, cost, hour = op
    item, location, at = world["items"][item_no], world["bins"][where], START + timedelta(hours=hour, minutes=7)
    try:
        if kind == "receive":
            stock_receive(
                item=item, location=location, quantity=D(quantity), unit_cost=D(cost), actor=None, occurred_at=at
            )
        elif kind == "issue":
            stock_issue(item=item, location=location, quantity=D(quantity), actor=None, occurred_at=at)
        elif kind == "move" and other != where:
            stock_transfer(
                item=item,
                source=location,
                destination=world["bins"][other],
                quantity=D(quantity),
                actor=None,
                occurred_at=at,
            )
        elif kind == "adjust":
            delta = D(quantity) if cost % 2 else -D(quantity)
            stock_adjust(
                item=item, location=location, quantity_delta=delta, reason_code="count", actor=None, occurred_at=at
            )
    except StockError:
        pass  # not enough stock then: nothing posted


def full_sum(at: datetime) -> tuple[dict, dict]:
    """The ledger summed in Python, movement by movement: the reference."""
    quantities: dict = defaultdict(Decimal)
    values: dict = defaultdict(lambda: [D(0), D(0)])
    for m in Movement.objects.filter(occurred_at__lte=at).select_related("source", "destination"):
        src, dst = m.source, m.destination
        if dst.kind == LocationKind.INTERNAL:
            quantities[(m.item_id, dst.pk, m.lot_id)] += m.quantity
        if src.kind == LocationKind.INTERNAL:
            quantities[(m.item_id, src.pk, m.lot_id)] -= m.quantity
        if src.warehouse_id != dst.warehouse_id:
            for warehouse, sign in ((dst.warehouse_id, 1), (src.warehouse_id, -1)):
                if warehouse is not None:
                    values[(m.item_id, warehouse)][0] += sign * m.quantity
                    values[(m.item_id, warehouse)][1] += sign * m.total_cost
    return (
        {k: q for k, q in quantities.items() if q},
        {k: v for k, v in values.items() if v[0] or v[1]},
    )


@settings(
    max_examples=20 if connection.vendor == "postgresql" else 12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(operation, min_size=1, max_size=14),
    late=st.lists(operation, max_size=6),
    probes=st.lists(st.integers(0, DAYS * 24 + 48), min_size=1, max_size=4),
)
def test_as_of_through_period_balances_equals_the_full_sum(world, history, late, probes):
    with transaction.atomic():
        for op in history:
            post(world, op)
        closes = period_balances_close(until=START + timedelta(days=DAYS + 3))
        # month starts and Mondays, at midnight
        assert all(c.period_end.day == 1 or c.period_end.weekday() == 0 for c in closes)
        assert all(c.period_end.hour == c.period_end.minute == 0 for c in closes)
        for op in late:  # back-dated into the closed months, after they closed
            post(world, op)
        ends = [c.period_end - timedelta(microseconds=1) for c in closes]  # as of just before a close
        for at in [START + timedelta(hours=hour) for hour in probes] + ends:
            expected = full_sum(at)
            for base in ("before", "after", "projection"):
                quantities, values = balances_as_of(at, world["warehouses"], base=base)
                assert (quantities, values) == expected, (base, at)
        assert reconcile() == []
        transaction.set_rollback(True)


def test_periods_end_at_month_starts_and_mondays():
    # 2025-01-01 is a Wednesday: the Mondays after it are January 6, 13, 20, 27, February 3, 10;
    # February 1 (a Saturday) is a month start. Up to February 10 inclusive: seven ends.
    ends = period_ends(START, datetime(2025, 2, 10, tzinfo=UTC))
    days = [(e.month, e.day) for e in ends]
    assert days == [(1, 6), (1, 13), (1, 20), (1, 27), (2, 1), (2, 3), (2, 10)]
    assert all(e.hour == e.minute == e.second == 0 and e.tzinfo is not None for e in ends)
    assert START not in ends  # only the boundaries after ``first``


def test_each_base_is_chosen_when_nearest(world, monkeypatch):
    post(world, ("receive", 0, "A1", "A1", 5, 2, 10))  # 5 @ 2 on January 1st, 10:07
    period_balances_close(until=START + timedelta(days=15))  # closes January 6 and 13
    chosen = []
    real = balances_module._nearest
    monkeypatch.setattr(balances_module, "_nearest", lambda at, closes: chosen.append(real(at, closes)) or chosen[-1])
    for at in (
        datetime(2025, 1, 7, 1, tzinfo=UTC),  # 1 h after the January 6 close, 5 days before the next
        datetime(2025, 1, 12, 20, tzinfo=UTC),  # 4 h before the January 13 close
        datetime(2025, 1, 3, tzinfo=UTC),  # no close before; January 6 is nearer than now
    ):
        assert balances_as_of(at, world["warehouses"]) == full_sum(at)
    assert chosen == ["before", "after", "after"]


def test_closing_is_idempotent_and_in_order(world):
    post(world, ("receive", 0, "A1", "A1", 5, 2, 10))  # 5 @ 2 on January 1st
    first = period_balances_close(until=START + timedelta(days=11))  # up to January 12, 00:00
    assert [c.period_end for c in first] == [datetime(2025, 1, 6, tzinfo=UTC)]  # the first Monday
    later = period_balances_close(until=START + timedelta(days=40))  # up to February 10, 00:00
    # the Mondays January 13, 20, 27, February 3, 10 and the month start February 1, in order
    assert [(c.period_end.month, c.period_end.day) for c in later] == [
        (1, 13),
        (1, 20),
        (1, 27),
        (2, 1),
        (2, 3),
        (2, 10),
    ]
    assert period_balances_close(until=START + timedelta(days=40)) == []  # nothing new to close
    for close in first + later:  # each close holds the same: nothing moved after January 1st
        rows = {(b.location_id is None, b.quantity, b.value) for b in PeriodBalance.objects.filter(close=close)}
        assert rows == {(False, D(5), D(0)), (True, D(5), D(10))}  # the bin's 5; A's 5 worth 10
    assert PeriodBalance.objects.count() == 7 * 2  # two rows per close, none rewritten


def test_reconcile_finds_a_wrong_stored_balance(world):
    post(world, ("receive", 0, "A1", "A1", 5, 2, 10))
    close = period_balances_close(until=START + timedelta(days=40))[-1]  # reconcile checks the latest
    with connection.cursor() as cursor:  # drift injected on purpose
        cursor.execute(
            "UPDATE stock_periodbalance SET quantity = 4 WHERE close_id = %s AND location_id IS NOT NULL", [close.pk]
        )
    checks = {d.check for d in reconcile()}
    assert checks == {"period_balance_quantity"}
    assert PeriodClose.objects.count() == 7  # January 6 to February 10: nothing closed again


def test_the_nightly_close_is_scheduled_and_described_as_weeks_and_months(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="Nightly period balances")

    assert task.task == "stock.period_balances_close"
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")
    assert "each week's and each month's start" in task.description

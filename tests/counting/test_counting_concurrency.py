"""Counts of one bin racing each other on real PostgreSQL connections: whatever the order, the
bin is corrected once (the most recent count wins; an earlier one is superseded or finds the
correction already in its book quantity), nothing deadlocks, and the books balance."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from counting.models import CountKind, CountLine, LineStatus
from counting.services import CountStateConflict, count_create, count_line_approve, count_line_record, count_submit
from stock.models import Movement, MovementKind
from stock.services import stock_receive
from tests.stock.test_concurrency import _actor, _assert_books_balance, _assert_only, _item, _on_hand, _race, _warehouse

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def _counted(warehouse, shelf, item, quantity: str, kind: str):  # noqa: ANN001, ANN202
    count = count_create(warehouse=warehouse, keys=[(item.pk, shelf.pk, None)], bins=[shelf.pk], kind=kind, actor=None)
    count_line_record(count=count, location=shelf, item=item, quantity=Decimal(quantity), actor=None)
    return count


@pytest.mark.django_db(transaction=True)
def test_two_waiting_counts_of_one_bin_approved_at_once_correct_it_once():
    manager = _actor()
    warehouse, (shelf,) = _warehouse("CNT1", "A-01")
    item = _item("CNT-RACE")
    stock_receive(item=item, location=shelf, quantity=Decimal(100), unit_cost=Decimal(1), actor=None)
    counts = [_counted(warehouse, shelf, item, "90", CountKind.RECOUNT) for _ in range(2)]  # two recounts: 10 short
    for count in counts:
        count_submit(count=count, actor=None)
    lines = [count.lines.get() for count in counts]
    assert [line.status for line in lines] == [LineStatus.WAITING, LineStatus.WAITING]

    outcomes = _race([lambda line=line: count_line_approve(line=line, actor=manager, reason="theft") for line in lines])

    # The later line approved first supersedes the earlier one, whose approval is then refused (409).
    _assert_only(outcomes, CountStateConflict)
    assert _on_hand(item, shelf) == Decimal(90)  # 100 - 10, once
    adjustments = Movement.objects.filter(item=item, kind=MovementKind.ADJUSTMENT)
    assert sum(m.quantity for m in adjustments) == Decimal(10)
    statuses = sorted(CountLine.objects.filter(item=item).values_list("status", flat=True))
    assert statuses in (["approved", "approved"], ["approved", "superseded"])
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_two_counts_of_one_bin_submitted_at_once_within_tolerance_correct_it_once():
    warehouse, (shelf,) = _warehouse("CNT2", "A-01")
    item = _item("CNT-RACE2")
    stock_receive(item=item, location=shelf, quantity=Decimal(100), unit_cost=Decimal(1), actor=None)
    counts = [_counted(warehouse, shelf, item, "99", CountKind.MANUAL) for _ in range(2)]  # -1: within 2 %

    outcomes = _race([lambda count=count: count_submit(count=count, actor=None) for count in counts])

    _assert_only(outcomes)
    assert _on_hand(item, shelf) == Decimal(99)
    assert sum(m.quantity for m in Movement.objects.filter(item=item, kind=MovementKind.ADJUSTMENT)) == Decimal(1)
    _assert_books_balance()

"""Counting a bin: tolerance, recount by another clerk, approval with a reason, rejection, and
variances that stay true while stock moves (docs/counting.md).

WIDGET is class C by default (no ItemClass row): tolerance 2 % of the book quantity and 50.00.
``stocked`` puts 100 WIDGET at 1.00 in A-01, so one unit is worth 1.00.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.permissions import WarehousePermissionDenied
from counting.models import ClassPolicy, Count, CountKind, CountLine, CountStatus, LineStatus
from counting.services import (
    CountingError,
    CountStateConflict,
    class_policies,
    count_line_approve,
    count_line_reject,
    count_start,
    count_submit,
)
from stock.models import Movement, MovementKind
from stock.services import stock_issue, stock_receive
from tests.stock.factories import level_of

pytestmark = pytest.mark.django_db


def _start(manager, bin_a) -> Count:  # noqa: ANN001
    return count_start(warehouse=bin_a.warehouse, locations=[bin_a], actor=manager)


def _waiting_line(manager, clerk, other_clerk, bin_a, counted, quantity: str) -> CountLine:  # noqa: ANN001
    """Count ``quantity`` (beyond tolerance), recount the same, and return the recount's line."""
    count = _start(manager, bin_a)
    first = counted(count, quantity, clerk)
    count_submit(count=count, actor=clerk)
    first.refresh_from_db()
    assert first.status == LineStatus.RECOUNT
    recount = first.recount_line.count
    counted(recount, quantity, other_clerk)
    count_submit(count=recount, actor=other_clerk)
    line = CountLine.objects.get(pk=first.recount_line_id)
    assert line.status == LineStatus.WAITING
    return line


def test_a_count_starts_with_one_line_per_stocked_level_of_the_bin(manager, bin_a, stocked, item):
    count = _start(manager, bin_a)
    assert count.status == CountStatus.OPEN and count.blind and count.kind == CountKind.MANUAL
    assert [(line.item, line.location, line.status) for line in count.lines.all()] == [
        (item, bin_a, LineStatus.TO_COUNT)
    ]


def test_within_tolerance_posts_at_submit_dated_when_counted(manager, clerk, bin_a, stocked, item, counted):
    count = _start(manager, bin_a)
    line = counted(count, "98", clerk)  # 98 - 100 = -2; 2 % of 100 = 2 -> within (edge); value 2.00 <= 50.00
    count = count_submit(count=count, actor=clerk)
    line.refresh_from_db()
    assert line.status == LineStatus.POSTED and line.within_tolerance is True
    assert (line.book_quantity, line.variance, line.variance_value) == (Decimal(100), Decimal(-2), Decimal("-2.00"))
    assert level_of(item, bin_a)[0] == Decimal(98)  # 100 - 2
    movement = line.movement
    assert movement.kind == MovementKind.ADJUSTMENT and movement.quantity == Decimal(2)
    assert (movement.source, movement.destination.kind) == (bin_a, "adjustment")
    assert (movement.reference_type, movement.reference_id, movement.reference_line) == (
        "counting.count",
        str(count.pk),
        str(line.pk),
    )
    assert movement.occurred_at == line.counted_at
    assert count.status == CountStatus.CLOSED  # its only line is decided


def test_an_exact_count_posts_nothing(manager, clerk, bin_a, stocked, item, counted):
    count = _start(manager, bin_a)
    line = counted(count, "100", clerk)
    before = Movement.objects.count()
    count_submit(count=count, actor=clerk)
    line.refresh_from_db()
    assert line.status == LineStatus.POSTED and line.variance == 0 and line.movement is None
    assert Movement.objects.count() == before


def test_beyond_tolerance_goes_to_a_recount_by_another_clerk(manager, clerk, other_clerk, bin_a, stocked, counted):
    count = _start(manager, bin_a)
    line = counted(count, "97", clerk)  # -3 > 2 % of 100 = 2 -> beyond
    count_submit(count=count, actor=clerk)
    line.refresh_from_db()
    assert line.status == LineStatus.RECOUNT and line.within_tolerance is False and line.movement is None
    recount = line.recount_line.count
    assert recount.kind == CountKind.RECOUNT and recount.excluded_user == clerk
    with pytest.raises(WarehousePermissionDenied):
        counted(recount, "97", clerk)
    assert recount.lines.get().status == LineStatus.TO_COUNT  # the refusal wrote nothing


def test_tolerance_value_edge(manager, clerk, bin_a, stocked, item, counted):
    policy = class_policies(bin_a.warehouse)["C"]
    ClassPolicy.objects.filter(pk=policy.pk).update(tolerance_value=Decimal("1.99"))
    count = _start(manager, bin_a)
    line = counted(count, "98", clerk)  # -2 is within 2 % of 100, but 2.00 > 1.99
    count_submit(count=count, actor=clerk)
    line.refresh_from_db()
    assert line.status == LineStatus.RECOUNT
    assert level_of(item, bin_a)[0] == Decimal(100)


def test_a_confirmed_recount_waits_and_approval_posts_with_the_reason(
    manager, clerk, other_clerk, bin_a, stocked, item, counted
):
    line = _waiting_line(manager, clerk, other_clerk, bin_a, counted, "97")
    assert level_of(item, bin_a)[0] == Decimal(100)  # nothing posted while waiting
    first = CountLine.objects.get(recount_line=line)
    count_line_approve(line=line, actor=manager, reason="theft", note="shelf was open")
    line.refresh_from_db()
    first.refresh_from_db()
    assert line.status == LineStatus.APPROVED and line.reason_code == "theft" and line.decided_by == manager
    assert line.movement.reason_code == "theft" and line.movement.actor == manager
    assert line.movement.reference_id == str(line.count_id)
    assert level_of(item, bin_a)[0] == Decimal(97)  # 100 - 3, once
    assert first.status == LineStatus.SUPERSEDED  # the first count is answered by its recount
    assert first.count.status == CountStatus.CLOSED and line.count.status == CountStatus.CLOSED


def test_approval_needs_a_known_reason_and_another_person(manager, clerk, other_clerk, bin_a, stocked, counted):
    line = _waiting_line(manager, clerk, other_clerk, bin_a, counted, "97")
    before = Movement.objects.count()
    with pytest.raises(CountingError):
        count_line_approve(line=line, actor=manager, reason="")
    with pytest.raises(CountingError):
        count_line_approve(line=line, actor=manager, reason="lost it")
    with pytest.raises(WarehousePermissionDenied):
        count_line_approve(line=line, actor=clerk, reason="theft")  # a clerk may not approve
    with pytest.raises(WarehousePermissionDenied):
        count_line_approve(line=line, actor=other_clerk, reason="theft")  # nor the one who counted it
    line.refresh_from_db()
    assert line.status == LineStatus.WAITING and Movement.objects.count() == before


def test_approving_twice_posts_once(manager, clerk, other_clerk, bin_a, stocked, item, counted):
    line = _waiting_line(manager, clerk, other_clerk, bin_a, counted, "97")
    count_line_approve(line=line, actor=manager, reason="damaged")
    with pytest.raises(CountStateConflict):
        count_line_approve(line=line, actor=manager, reason="damaged")
    assert level_of(item, bin_a)[0] == Decimal(97)


def test_rejection_leaves_stock_alone_and_can_order_another_recount(
    manager, clerk, other_clerk, bin_a, stocked, item, counted
):
    line = _waiting_line(manager, clerk, other_clerk, bin_a, counted, "90")
    before = Movement.objects.count()
    count_line_reject(line=line, actor=manager, reason="unknown", recount=True)
    line.refresh_from_db()
    assert line.status == LineStatus.REJECTED and line.reason_code == "unknown"
    assert Movement.objects.count() == before and level_of(item, bin_a)[0] == Decimal(100)
    again = line.recount_line.count
    assert again.kind == CountKind.RECOUNT and again.excluded_user == other_clerk and again.status == CountStatus.OPEN


@pytest.mark.parametrize("order", ["sale then receipt", "receipt then sale"])
def test_stock_moving_between_counting_and_approval_neither_fakes_nor_doubles_a_variance(
    order, manager, clerk, other_clerk, bin_a, stocked, item, counted, actor
):
    line = _waiting_line(manager, clerk, other_clerk, bin_a, counted, "97")  # 3 missing when counted

    def sale() -> None:
        stock_issue(item=item, location=bin_a, quantity=Decimal(10), actor=actor)

    def receipt() -> None:
        stock_receive(item=item, location=bin_a, quantity=Decimal(5), unit_cost=Decimal("1.00"), actor=actor)

    for move in (sale, receipt) if order == "sale then receipt" else (receipt, sale):
        move()
    assert level_of(item, bin_a)[0] == Decimal(95)  # 100 - 10 + 5
    count_line_approve(line=line, actor=manager, reason="mis_pick")
    line.refresh_from_db()
    # The book as of counting is still 100 (the moves came later), so the variance is -3.
    assert (line.book_quantity, line.variance) == (Decimal(100), Decimal(-3))
    assert level_of(item, bin_a)[0] == Decimal(92)  # 95 - 3: what is really there


def test_a_later_count_posted_first_supersedes_an_earlier_waiting_one(
    manager, clerk, other_clerk, bin_a, stocked, item, counted
):
    waiting = _waiting_line(manager, clerk, other_clerk, bin_a, counted, "97")  # -3, waiting
    later = _start(manager, bin_a)
    counted(later, "98", clerk)  # -2: within tolerance, posts at submit
    count_submit(count=later, actor=clerk)
    assert level_of(item, bin_a)[0] == Decimal(98)
    waiting.refresh_from_db()
    assert waiting.status == LineStatus.SUPERSEDED  # not corrected a second time
    with pytest.raises(CountStateConflict):
        count_line_approve(line=waiting, actor=manager, reason="theft")
    assert level_of(item, bin_a)[0] == Decimal(98)


def test_an_unexpected_item_found_in_the_bin_is_counted_too(manager, clerk, bin_a, bin_b, stocked, item, counted):
    count = count_start(warehouse=bin_a.warehouse, locations=[bin_b], actor=manager)  # B is empty: no lines
    assert count.lines.count() == 0
    from counting.services import count_line_record

    line = count_line_record(count=count, location=bin_b, item=item, quantity=Decimal(1), actor=clerk)
    assert line.expected is False
    count_submit(count=count, actor=clerk)
    line.refresh_from_db()
    # Book 0, counted 1: 2 % of 0 is 0, so beyond tolerance: a recount.
    assert (line.book_quantity, line.variance, line.status) == (Decimal(0), Decimal(1), LineStatus.RECOUNT)


def test_submit_refuses_lines_not_counted_and_a_second_submit(manager, clerk, bin_a, stocked, counted):
    count = _start(manager, bin_a)
    with pytest.raises(CountingError, match="still has lines to count: WIDGET @ A-01"):
        count_submit(count=count, actor=clerk)
    assert Count.objects.get(pk=count.pk).status == CountStatus.OPEN
    counted(count, "100", clerk)
    count_submit(count=count, actor=clerk)
    with pytest.raises(CountStateConflict):
        count_submit(count=count, actor=clerk)
    with pytest.raises(CountStateConflict):
        counted(count, "5", clerk)


def test_recording_again_with_the_same_key_counts_once(manager, clerk, bin_a, stocked, counted):
    count = _start(manager, bin_a)
    first = counted(count, "90", clerk, idempotency_key="k-1")
    again = counted(count, "90", clerk, idempotency_key="k-1")
    assert first.pk == again.pk and count.lines.count() == 1
    assert CountLine.objects.get(pk=first.pk).counted_quantity == Decimal(90)


def test_bad_input_is_refused_with_its_reason(manager, clerk, bin_a, bin_c, stocked, item, lot_item, counted):
    count = _start(manager, bin_a)
    from counting.services import count_line_record

    with pytest.raises(CountingError, match="must be zero or more"):
        counted(count, "-1", clerk)
    with pytest.raises(CountingError, match="is not a number"):
        count_line_record(count=count, location=bin_a, item=item, quantity="lots", actor=clerk)
    with pytest.raises(CountingError, match="is lot-tracked"):
        count_line_record(count=count, location=bin_a, item=lot_item, quantity=Decimal(1), actor=clerk)
    with pytest.raises(CountingError, match="is not on count"):
        count_line_record(count=count, location=bin_c, item=item, quantity=Decimal(1), actor=clerk)
    assert count.lines.get().status == LineStatus.TO_COUNT


def test_a_count_of_another_warehouse_is_refused(manager, bin_c, other_clerk, warehouse):
    with pytest.raises(CountingError, match="is not a location of warehouse WH1"):
        count_start(warehouse=warehouse, locations=[bin_c], actor=manager)
    other = count_start(warehouse=bin_c.warehouse, locations=[bin_c], actor=None)
    with pytest.raises(WarehousePermissionDenied):
        count_start(warehouse=bin_c.warehouse, locations=[bin_c], actor=manager)
    with pytest.raises(WarehousePermissionDenied):
        count_submit(count=other, actor=other_clerk)
    assert Count.objects.count() == 1


def test_clerks_may_not_start_counts(clerk, bin_a, stocked):
    with pytest.raises(WarehousePermissionDenied):
        count_start(warehouse=bin_a.warehouse, locations=[bin_a], actor=clerk)
    assert not Count.objects.exists()

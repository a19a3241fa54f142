"""The measures the reports show (counting/selectors.py), on a worked example:

- WIDGET in A-01: 100 at 1.00; counted 98: -2 is within C's 2 % of 100 -> posted, value -2.00;
- GADGET in A-02: 50 at 2.00; counted 45: -5 is beyond 2 % of 50 (1) -> recount; recounted 45
  -> waiting; approved as theft -> posted, value -5 x 2.00 = -10.00;
- a planned count of 2 lines, 1 of them counted.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from counting.models import CountKind
from counting.selectors import (
    abc_classes,
    counts_done_vs_planned,
    record_accuracy,
    shrinkage_by_reason,
    variance_value_by_class,
    variances_waiting,
)
from counting.services import count_create, count_line_approve, count_line_record, count_start, count_submit
from stock.services import stock_receive
from tests.stock.factories import ItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def example(manager, clerk, other_clerk, warehouse, bin_a, bin_b, item, stocked, actor):  # noqa: ANN001, ANN201
    gadget = ItemFactory(sku="GADGET")
    stock_receive(item=gadget, location=bin_b, quantity=Decimal(50), unit_cost=Decimal("2.00"), actor=actor)
    count = count_start(warehouse=warehouse, locations=[bin_a, bin_b], actor=manager)
    count_line_record(count=count, location=bin_a, item=item, quantity=Decimal(98), actor=clerk)
    first = count_line_record(count=count, location=bin_b, item=gadget, quantity=Decimal(45), actor=clerk)
    count_submit(count=count, actor=clerk)
    first.refresh_from_db()
    recount = first.recount_line.count
    count_line_record(count=recount, location=bin_b, item=gadget, quantity=Decimal(45), actor=other_clerk)
    count_submit(count=recount, actor=other_clerk)
    assert list(variances_waiting(warehouses=[warehouse])) == [first.recount_line]
    count_line_approve(line=first.recount_line, actor=manager, reason="theft")
    planned = count_create(
        warehouse=warehouse,
        keys=[(item.pk, bin_a.pk, None), (gadget.pk, bin_b.pk, None)],
        bins=[bin_a.pk, bin_b.pk],
        kind=CountKind.PLANNED,
        actor=None,
        planned_for=timezone.localdate(),
    )
    count_line_record(count=planned, location=bin_a, item=item, quantity=Decimal(98), actor=clerk)
    return {"gadget": gadget}


def test_record_accuracy_counts_first_counts_only(example, warehouse):
    (row,) = record_accuracy(warehouses=[warehouse])
    assert (row.warehouse, row.abc_class, row.lines, row.within) == ("WH1", "C", 2, 1)
    assert row.share == Decimal("0.5000")  # 1 of 2 first counts within tolerance


def test_shrinkage_by_reason_and_variance_value_by_class(example, warehouse, other_warehouse):
    assert shrinkage_by_reason(warehouses=[warehouse]) == {"": Decimal("-2.00"), "theft": Decimal("-10.00")}
    assert variance_value_by_class(warehouses=[warehouse]) == {
        "C": {"net": Decimal("-12.00"), "absolute": Decimal("12.00")}  # -2.00 + -10.00
    }
    assert shrinkage_by_reason(warehouses=[other_warehouse]) == {}
    today = timezone.localdate()
    assert shrinkage_by_reason(warehouses=[warehouse], start=today.replace(year=today.year + 1)) == {}


def test_counts_done_against_planned(example, warehouse):
    (row,) = counts_done_vs_planned(warehouses=[warehouse])
    assert (row.warehouse, row.planned, row.done) == ("WH1", 2, 1)


def test_abc_classes_reads_the_classed_items(example, warehouse, item):
    from counting.services import item_class_override

    item_class_override(warehouse=warehouse, item=item, abc_class="A", actor=None)
    assert [(row.item.sku, row.abc_class) for row in abc_classes(warehouse)] == [("WIDGET", "A")]

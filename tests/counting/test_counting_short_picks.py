"""Short picks in the day's plan (issue 15): an open short pick ranks after the class-due items and
recent variances, its bin is counted, a second short pick the same day adds nothing, and a count of that
item and bin at or after the short pick settles it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Item
from counting.models import Count, CountKind, CountLine
from counting.services import count_line_record, count_plan, count_submit, plan_candidates
from counting.services.planning import short_picks_open
from stock.models import ShortPick
from stock.services import short_pick_record, stock_issue, stock_receive
from tests.stock.factories import ItemFactory

pytestmark = pytest.mark.django_db

FRIDAY, MONDAY, TUESDAY = date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 8)


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.get_current_timezone())


def short(location, when: datetime, *, asked: str, available: str, by, source: str = "floor"):  # noqa: ANN001, ANN201
    """WIDGET asked ``asked`` at ``location`` at ``when``, ``available`` there."""
    item = Item.objects.get(sku="WIDGET")
    return short_pick_record(
        item=item,
        location=location,
        lot=None,
        asked=Decimal(asked),
        available=Decimal(available),
        actor=by,
        source=source,
        at=when,
    )


@pytest.fixture
def shelves(warehouse, bin_a, bin_b, item, actor):
    """Three class-C items, none ever counted: WIDGET 2 in A-01; BOLT sold out in A-02 (went to
    zero); GADGET 1 in A-02. Quota: 3 items x 2 counts a year = 6; 6 / 261 working days of 2026,
    rounded up = 1 item a day."""
    bolt, gadget = ItemFactory(sku="BOLT"), ItemFactory(sku="GADGET")
    stock_receive(item=item, location=bin_a, quantity=Decimal(2), unit_cost=Decimal(1), actor=actor)
    stock_receive(item=bolt, location=bin_b, quantity=Decimal(2), unit_cost=Decimal(1), actor=actor)
    stock_issue(item=bolt, location=bin_b, quantity=Decimal(2), actor=actor)
    stock_receive(item=gadget, location=bin_b, quantity=Decimal(1), unit_cost=Decimal(1), actor=actor)
    return {"bolt": bolt, "gadget": gadget}


def test_without_a_short_pick_the_item_that_went_to_zero_comes_first(warehouse, shelves, item):
    candidates, quota = plan_candidates(warehouse, MONDAY)
    # BOLT went to zero (rank 3); WIDGET and GADGET never counted (rank 4), then by item id (WIDGET first).
    assert [(c.item_id, c.rank) for c in candidates] == [
        (shelves["bolt"].pk, 3),
        (item.pk, 4),
        (shelves["gadget"].pk, 4),
    ]
    assert quota == 1


def test_a_short_pick_at_a01_makes_the_next_plan_count_a01_first_once(warehouse, shelves, item, bin_a, clerk):
    # Friday: the clerk asks 5 WIDGET at A-01, 2 are there; asks again at 16:00 the same day.
    first = short(bin_a, at(FRIDAY, 10), asked="5", available="2", by=clerk, source="floor")
    again = short(bin_a, at(FRIDAY, 16), asked="3", available="2", by=clerk, source="api")
    assert again == first and ShortPick.objects.count() == 1  # twice the same day adds nothing
    assert (first.asked, first.available, first.by, first.day) == (Decimal(5), Decimal(2), clerk, FRIDAY)

    candidates, quota = plan_candidates(warehouse, MONDAY)
    assert [(c.item_id, c.rank) for c in candidates][0] == (item.pk, 2)  # short pick: before BOLT (3)
    (count,) = count_plan(warehouse=warehouse, actor=None, day=MONDAY)  # quota 1: only WIDGET
    assert [(line.location.code, line.item.sku, line.lot_id) for line in count.lines.all()] == [
        ("A-01", "WIDGET", None)
    ]
    assert count_plan(warehouse=warehouse, actor=None, day=MONDAY) == []  # the plan twice adds nothing

    # The clerk counts 2 at A-01 now (as the book: no variance), after Friday 10:00: settled.
    count_line_record(count=count, location=bin_a, item=item, quantity=Decimal(2), actor=clerk)
    count_submit(count=count, actor=clerk)
    assert short_picks_open(warehouse, TUESDAY) == []
    ranks = {c.item_id: c.rank for c in plan_candidates(warehouse, TUESDAY)[0]}
    assert ranks[item.pk] == 5  # counted, not due, no variance, not zero: last
    (tuesday,) = count_plan(warehouse=warehouse, actor=None, day=TUESDAY)
    assert [line.item.sku for line in tuesday.lines.all()] == ["BOLT"]  # went to zero (rank 3) is next
    assert ShortPick.objects.count() == 1  # the record stays, settled by the count line


def test_a_count_before_the_short_pick_does_not_settle_it(warehouse, shelves, item, bin_a, clerk):
    old = Count.objects.create(warehouse=warehouse, status="closed")
    CountLine.objects.create(
        count=old,
        location=bin_a,
        item=item,
        counted_quantity=Decimal(2),
        variance=Decimal(0),
        counted_at=at(FRIDAY, 8),
    )
    short(bin_a, at(FRIDAY, 10), asked="5", available="2", by=clerk, source="floor")
    # counted 08:00, short at 10:00: still open (the count at 08:00 is older than the short pick)
    assert short_picks_open(warehouse, MONDAY) == [(item.pk, bin_a.pk, None, "A-01", "WIDGET")]
    assert plan_candidates(warehouse, MONDAY)[0][0].item_id == item.pk


def test_a_short_bin_with_no_stock_level_is_counted_too(warehouse, shelves, item, bin_b, clerk):
    # WIDGET was never in A-02: the pick there found 0; the plan counts A-02 for WIDGET as well.
    short(bin_b, at(FRIDAY, 10), asked="1", available="0", by=clerk, source="floor")
    counts = count_plan(warehouse=warehouse, actor=None, day=MONDAY)  # no zone, a count each
    lines = [(line.location.code, line.item.sku) for count in counts for line in count.lines.all()]
    assert lines == [("A-01", "WIDGET"), ("A-02", "WIDGET")]


def test_a_short_pick_in_another_warehouse_or_after_the_day_is_not_planned(
    warehouse, other_warehouse, shelves, item, bin_a, bin_c, actor
):
    stock_receive(item=item, location=bin_c, quantity=Decimal(1), unit_cost=Decimal(1), actor=actor)
    short(bin_c, at(FRIDAY, 10), asked="4", available="1", by=actor, source="api")
    short(bin_a, at(TUESDAY, 10), asked="4", available="2", by=actor, source="api")
    assert short_picks_open(warehouse, MONDAY) == []  # WH2's is not WH1's; Tuesday's is after Monday
    assert plan_candidates(warehouse, MONDAY)[0][0].item_id == shelves["bolt"].pk
    assert Count.objects.filter(kind=CountKind.PLANNED).count() == 0
    assert timedelta(0) < at(TUESDAY, 10) - at(MONDAY, 0)

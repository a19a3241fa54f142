"""ABC classes on a worked example, the day's plan (priorities, quota, zones and walk order,
twice adds nothing, weekends), the ``count_plan`` command, the beat jobs and the managers' digest."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from catalog.models import LocationLevel
from counting.models import Count, CountKind, CountLine, ItemClass, LineStatus
from counting.services import (
    abc_classify,
    abc_split,
    count_plan,
    count_start,
    count_submit,
    item_class_override,
    plan_candidates,
    working_days,
)
from counting.tasks import variances_digest
from stock.services import stock_issue, stock_receive
from tests.stock.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 12, 7)
SATURDAY = date(2026, 12, 12)


def test_abc_split_worked_example():
    # Values 500, 300, 100, 60, 40 (total 1000). Share of the total before each item:
    # 0 % -> A, 50 % -> A, 80 % -> B (not below 80), 90 % -> B (below 95), 96 % -> C; no value -> C.
    values = {1: Decimal(500), 2: Decimal(300), 3: Decimal(100), 4: Decimal(60), 5: Decimal(40), 6: Decimal(0)}
    assert abc_split(values, a_share=Decimal(80), b_share=Decimal(15)) == {
        1: "A",
        2: "A",
        3: "B",
        4: "B",
        5: "C",
        6: "C",
    }


def test_abc_classify_from_cost_of_goods_issued_keeps_the_override(warehouse, bin_a, actor):
    items = []
    for n, unit_cost in enumerate(("50", "30", "10", "6", "4"), start=1):
        item = ItemFactory(sku=f"ABC-{n}")
        stock_receive(item=item, location=bin_a, quantity=Decimal(10), unit_cost=Decimal(unit_cost), actor=actor)
        stock_issue(item=item, location=bin_a, quantity=Decimal(10), actor=actor)  # cost issued: 10 x unit cost
        items.append(item)
    idle = ItemFactory(sku="IDLE")
    stock_receive(item=idle, location=bin_a, quantity=Decimal(1), unit_cost=Decimal(99), actor=actor)
    assert abc_classify(warehouse=warehouse, actor=None) == 5
    rows = {row.item.sku: (row.abc_class, row.consumption_value) for row in ItemClass.objects.all()}
    assert rows == {
        "ABC-1": ("A", Decimal(500)),
        "ABC-2": ("A", Decimal(300)),
        "ABC-3": ("B", Decimal(100)),
        "ABC-4": ("B", Decimal(60)),
        "ABC-5": ("C", Decimal(40)),
    }
    item_class_override(warehouse=warehouse, item=items[4], abc_class="A", actor=None)
    # A year and more later nothing was issued in the 365 days before: all computed C, override kept.
    abc_classify(warehouse=warehouse, actor=None, at=timezone.now() + timedelta(days=400))
    rows = {row.item.sku: (row.computed_class, row.override_class) for row in ItemClass.objects.all()}
    assert rows["ABC-1"] == ("C", "") and rows["ABC-5"] == ("C", "A")


def test_clerks_may_not_class_items(clerk, warehouse):
    from catalog.permissions import WarehousePermissionDenied

    with pytest.raises(WarehousePermissionDenied):
        abc_classify(warehouse=warehouse, actor=clerk)
    assert not ItemClass.objects.exists()


@pytest.fixture
def plannable(warehouse, bin_a, bin_b, item, actor):
    """THING (2 bins under zone Z, counted 200 days ago: due, C counts every 182.5 days),
    WIDGET (a variance counted now: recent), BOLT (sold out in A-02: went to zero),
    GADGET (in A-02, never counted)."""
    zone = LocationFactory(warehouse=warehouse, code="Z", level=LocationLevel.ZONE)
    z2 = LocationFactory(warehouse=warehouse, code="Z-02", parent=zone)
    z1 = LocationFactory(warehouse=warehouse, code="Z-01", parent=zone)
    thing, bolt, gadget = ItemFactory(sku="THING"), ItemFactory(sku="BOLT"), ItemFactory(sku="GADGET")
    for where in (z2, z1):
        stock_receive(item=thing, location=where, quantity=Decimal(3), unit_cost=Decimal(1), actor=actor)
    old = Count.objects.create(warehouse=warehouse, status="closed")
    CountLine.objects.create(
        count=old,
        location=z1,
        item=thing,
        status=LineStatus.POSTED,
        counted_quantity=Decimal(3),
        variance=Decimal(0),
        counted_at=timezone.now() - timedelta(days=200),
    )
    stock_receive(item=item, location=bin_a, quantity=Decimal(10), unit_cost=Decimal(1), actor=actor)
    count = count_start(warehouse=warehouse, items=[item], actor=None)
    from counting.services import count_line_record

    count_line_record(count=count, location=bin_a, item=item, quantity=Decimal(0), actor=None)
    count_submit(count=count, actor=None)  # -10: a variance (recount ordered; the recount is left open)
    Count.objects.filter(kind=CountKind.RECOUNT).update(status="closed")
    stock_receive(item=bolt, location=bin_b, quantity=Decimal(2), unit_cost=Decimal(1), actor=actor)
    stock_issue(item=bolt, location=bin_b, quantity=Decimal(2), actor=actor)
    stock_receive(item=gadget, location=bin_b, quantity=Decimal(1), unit_cost=Decimal(1), actor=actor)
    return {"thing": thing, "bolt": bolt, "gadget": gadget, "zone": zone}


def test_candidates_come_in_priority_order_and_the_quota_spreads_the_year(warehouse, plannable, item):
    candidates, quota = plan_candidates(warehouse, MONDAY)
    assert [(c.item_id, c.rank) for c in candidates] == [
        (plannable["thing"].pk, 0),  # due by class
        (item.pk, 1),  # recent variance
        (plannable["bolt"].pk, 3),  # went to zero
        (plannable["gadget"].pk, 4),  # never counted
    ]
    assert working_days(2026) == 261  # 52 weeks and Thursday 1 January
    assert quota == 1  # 4 class-C items x 2 counts a year = 8; 8 / 261 rounded up


def test_count_plan_makes_the_days_counts_once_by_zone_in_walk_order(warehouse, plannable):
    (count,) = count_plan(warehouse=warehouse, actor=None, day=MONDAY)
    assert (count.kind, count.planned_for, count.zone) == (CountKind.PLANNED, MONDAY, plannable["zone"])
    assert [(line.location.code, line.item.sku) for line in count.lines.all()] == [("Z-01", "THING"), ("Z-02", "THING")]
    assert count_plan(warehouse=warehouse, actor=None, day=MONDAY) == []
    assert count_plan(warehouse=warehouse, actor=None, day=SATURDAY) == []
    assert Count.objects.filter(kind=CountKind.PLANNED).count() == 1


def test_the_count_plan_command(warehouse, plannable, capsys):
    call_command("count_plan", "--warehouse", "wh1", "--date", MONDAY.isoformat())
    assert "Planned 1 count(s) with 2 line(s) for WH1 on 2026-12-07." in capsys.readouterr().out
    call_command("count_plan", "--warehouse", "WH1", "--date", MONDAY.isoformat())
    assert "Nothing added for WH1 on 2026-12-07" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No warehouse has the code 'NOPE'"):
        call_command("count_plan", "--warehouse", "NOPE")
    with pytest.raises(CommandError, match="is not a date"):
        call_command("count_plan", "--warehouse", "WH1", "--date", "7/12/2026")
    assert Count.objects.filter(kind=CountKind.PLANNED).count() == 1


def test_the_beat_jobs_are_scheduled():
    names = set(PeriodicTask.objects.values_list("name", "task"))
    assert {
        ("Weekly ABC classification", "counting.abc_classify_all"),
        ("Daily count plan", "counting.count_plan_all"),
        ("Daily count variances digest", "counting.variances_digest"),
    } <= names
    assert PeriodicTask.objects.get(name="Weekly ABC classification").crontab.day_of_week == "0"


def test_managers_get_one_digest_listing_the_variances_waiting_for_them(
    settings, manager, clerk, other_clerk, bin_a, stocked, counted
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    manager.email = "boss@example.com"
    manager.save()
    assert variances_digest() == 0 and mail.outbox == []  # nothing waiting: no mail
    for quantity in ("90", "95"):
        count = count_start(warehouse=bin_a.warehouse, locations=[bin_a], actor=manager)
        first = counted(count, quantity, clerk)
        count_submit(count=count, actor=clerk)
        first.refresh_from_db()
        counted(first.recount_line.count, quantity, other_clerk)
        count_submit(count=first.recount_line.count, actor=other_clerk)
    assert variances_digest() == 1
    (message,) = mail.outbox
    assert message.to == ["boss@example.com"] and "2 variance(s) waiting" in message.subject
    # 90 counted against a book of 100: -10 each (and 95: -5 each)
    assert "WH1 A-01 WIDGET: counted 90, book 100, variance -10 each" in message.body
    assert "WH1 A-01 WIDGET: counted 95, book 100, variance -5 each" in message.body
    html, kind = message.alternatives[0]
    assert kind == "text/html" and "WH1 A-01 WIDGET: counted 90, book 100" in html
    # Once per line (common.alerts): the next run sends nothing until a new line waits.
    assert variances_digest() == 0 and len(mail.outbox) == 1

"""ABC classification and the day's count plan, set-based (a few queries per warehouse, never
one per item: ``bench/counting.py`` measures them against bare SQL over the same rows)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count as Counted
from django.db.models import Exists, Max, OuterRef, Q, Sum
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, LocationLevel, Warehouse
from catalog.permissions import WarehouseAction, warehouse_require
from common.actors import Actor
from stock.models import Movement, MovementKind, ShortPick, StockLevel

from ..models import AbcClass, Count, CountKind, CountLine, CountStatus, ItemClass
from .counts import count_create
from .errors import CountingError
from .policies import class_policies

CONSUMPTION_DAYS = 365
RECENT_VARIANCE_DAYS = 30
CLASS_ORDER: dict[str, int] = {AbcClass.A: 0, AbcClass.B: 1, AbcClass.C: 2}
ZERO = Decimal(0)


# --- ABC ------------------------------------------------------------------------------------------


def abc_split(values: dict[int, Decimal], *, a_share: Decimal, b_share: Decimal) -> dict[int, str]:
    """Class per item from its consumption value: sorted by value (highest first, then item id),
    an item is A while the share of the total *before* it is below ``a_share`` %, B while below
    ``a_share + b_share`` %, else C; an item with no consumption is C. So the item that crosses
    80 % is still A (one item making 90 % of the value is A)."""
    total = sum((v for v in values.values() if v > 0), ZERO)
    classes: dict[int, str] = {}
    before = ZERO
    for item_id, value in sorted(values.items(), key=lambda kv: (-kv[1], kv[0])):
        if value <= 0 or total == 0:
            classes[item_id] = AbcClass.C
            continue
        share = before * 100 / total
        classes[item_id] = AbcClass.A if share < a_share else AbcClass.B if share < a_share + b_share else AbcClass.C
        before += value
    return classes


@transaction.atomic
def abc_classify(*, warehouse: Warehouse, actor: Actor | None, at: datetime | None = None) -> int:
    """Class every item of ``warehouse`` by its cost of goods issued (sales/issues out of the
    warehouse's locations) over the 365 days up to ``at`` (now), with the warehouse's class
    shares (``ClassPolicy``). Writes ``ItemClass`` rows in one upsert (the manager's override is
    kept); items that had a class and no longer consume become C. Returns the rows written.
    Needs ``counting.change_itemclass`` and "approve" in the warehouse (the beat job is the
    system)."""
    warehouse_require(actor, warehouse, WarehouseAction.APPROVE, model_perm="counting.change_itemclass")
    at = at or timezone.now()
    policies = class_policies(warehouse)
    issued = (
        Movement.objects.filter(
            kind=MovementKind.ISSUE,
            source__warehouse=warehouse,
            occurred_at__gt=at - timedelta(days=CONSUMPTION_DAYS),
            occurred_at__lte=at,
        )
        .values("item_id")
        .annotate(value=Sum("total_cost"))
        .order_by()
    )
    values = {row["item_id"]: row["value"] or ZERO for row in issued}
    for item_id in ItemClass.objects.filter(warehouse=warehouse).values_list("item_id", flat=True):
        values.setdefault(item_id, ZERO)
    classes = abc_split(values, a_share=policies[AbcClass.A].value_share, b_share=policies[AbcClass.B].value_share)
    rows = [
        ItemClass(warehouse=warehouse, item_id=i, computed_class=c, consumption_value=values[i], computed_at=at)
        for i, c in classes.items()
    ]
    ItemClass.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["warehouse", "item"],
        update_fields=["computed_class", "consumption_value", "computed_at"],
    )
    return len(rows)


@transaction.atomic
def item_class_override(*, warehouse: Warehouse, item: Item, abc_class: str, actor: Actor | None) -> ItemClass:
    """Set (``"A"``, ``"B"``, ``"C"``) or clear (``""``) the manager's class of an item in a
    warehouse; the weekly classification keeps it. Same permissions as ``abc_classify``."""
    warehouse_require(actor, warehouse, WarehouseAction.APPROVE, model_perm="counting.change_itemclass")
    if abc_class not in ("", *AbcClass.values):
        raise CountingError(f"Class {abc_class!r} is not A, B or C (or empty to clear it).")
    row, _ = ItemClass.objects.select_for_update().get_or_create(warehouse=warehouse, item=item)
    row.override_class = abc_class
    row.save(update_fields=["override_class"])
    return row


# --- The day's plan ---------------------------------------------------------------------------------


def working_days(year: int) -> int:
    """Monday to Friday in ``year`` (the days a plan makes counts)."""
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    return sum(1 for n in range((end - start).days) if (start + timedelta(days=n)).weekday() < 5)


@dataclass(frozen=True)
class Candidate:
    item_id: int
    rank: int  # 0 due by class, 1 recent variance, 2 short pick, 3 went to zero, 4 never counted, 5 not due
    abc_class: str
    value: Decimal

    def key(self) -> tuple:
        return (self.rank, CLASS_ORDER[self.abc_class], -self.value, self.item_id)


ShortKey = tuple[int, int, int | None, str, str]  # item, bin, lot, bin code, SKU: a count line's key


def short_picks_open(warehouse: Warehouse, day: date) -> list[ShortKey]:
    """The (item, bin, lot) of ``warehouse`` where a pick came up short (``stock.models.ShortPick``)
    up to the end of ``day`` and that no count line of that item and bin has counted since (a
    count at or after the short pick settles it, whatever its lot). Each key once however many
    short picks it had. One query."""
    day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())
    counted_since = CountLine.objects.filter(
        count__warehouse=warehouse,
        item_id=OuterRef("item_id"),
        location_id=OuterRef("location_id"),
        counted_at__gte=OuterRef("at"),
    )
    return list(
        ShortPick.objects.filter(warehouse=warehouse, at__lt=day_end)
        .filter(~Exists(counted_since))
        .values_list("item_id", "location_id", "lot_id", "location__code", "item__sku")
        .order_by()
        .distinct()
    )


def plan_candidates(
    warehouse: Warehouse, day: date, *, short: list[ShortKey] | None = None
) -> tuple[list[Candidate], int]:
    """Every item with a stock level in ``warehouse`` or an open short pick there
    (``short_picks_open``, given or read) that is on no open count there, in priority order,
    and the day's quota (the year's counts of all of them, by their classes' frequency, spread
    evenly over the year's working days, rounded up). Six queries."""
    policies = class_policies(warehouse)
    tz = timezone.get_current_timezone()
    day_start = datetime.combine(day, time.min, tzinfo=tz)
    short_items = {key[0] for key in (short_picks_open(warehouse, day) if short is None else short)}
    levels = (
        StockLevel.objects.filter(location__warehouse=warehouse, location__kind=LocationKind.INTERNAL)
        .values("item_id")
        .annotate(zero=Counted("pk", filter=Q(on_hand=0)))
        .order_by()
    )
    went_to_zero = {row["item_id"]: row["zero"] > 0 for row in levels}
    busy = set(
        CountLine.objects.filter(count__warehouse=warehouse, count__status=CountStatus.OPEN).values_list(
            "item_id", flat=True
        )
    )
    history = (
        CountLine.objects.filter(count__warehouse=warehouse, counted_at__isnull=False)
        .values("item_id")
        .annotate(
            last=Max("counted_at"),
            varied=Counted(
                "pk", filter=Q(counted_at__gte=day_start - timedelta(days=RECENT_VARIANCE_DAYS)) & ~Q(variance=0)
            ),
        )
        .order_by()
    )
    last_counted = {row["item_id"]: (row["last"], row["varied"] > 0) for row in history}
    classes = {
        row[0]: (row[2] or row[1], row[3])
        for row in ItemClass.objects.filter(warehouse=warehouse).values_list(
            "item_id", "computed_class", "override_class", "consumption_value"
        )
    }
    candidates, per_year = [], 0
    for item_id in went_to_zero.keys() | short_items:
        zero = went_to_zero.get(item_id, True)  # short-picked with no level left: nothing there
        abc_class, value = classes.get(item_id, (AbcClass.C, ZERO))
        frequency = policies[abc_class].counts_per_year
        per_year += frequency
        if item_id in busy:
            continue
        last, varied = last_counted.get(item_id, (None, False))
        if last is not None and frequency and last <= day_start - timedelta(days=365 / frequency):
            rank = 0
        elif varied:
            rank = 1
        elif item_id in short_items:
            rank = 2
        elif zero:
            rank = 3
        elif last is None:
            rank = 4
        else:
            rank = 5
        candidates.append(Candidate(item_id, rank, abc_class, value))
    candidates.sort(key=Candidate.key)
    return candidates, math.ceil(per_year / working_days(day.year))


def _zones(warehouse: Warehouse) -> dict[int, int]:
    """Location id -> the id of its zone (the nearest ancestor of level zone, else its root)."""
    rows = {pk: (parent, level) for pk, parent, level in warehouse.locations.values_list("pk", "parent_id", "level")}
    zone_of: dict[int, int] = {}
    for pk in rows:
        node: int | None = pk
        found: int | None = None
        while node is not None:
            parent, level = rows.get(node, (None, None))
            if level == LocationLevel.ZONE:
                found = node
                break
            if parent is None:
                found = found or node
            node = parent
        zone_of[pk] = found if found is not None else pk
    return zone_of


@transaction.atomic
def count_plan(*, warehouse: Warehouse, actor: Actor | None, day: date | None = None) -> list[Count]:
    """Make the day's counts of ``warehouse``: the ``plan_candidates`` that fill the day's quota,
    highest priority first, each with every stock level it has in the warehouse (zero levels too:
    a zero count is the cheapest) and every bin where it came up short, one count per zone
    (``planned_for=day``, lines in walk order: bin code, then SKU). Nothing on Saturdays and
    Sundays. The warehouse row is locked, and a day that has planned counts gets nothing more:
    running it twice adds nothing. Needs
    ``counting.add_count`` and "approve" in the warehouse (the beat job is the system)."""
    warehouse_require(actor, warehouse, WarehouseAction.APPROVE, model_perm="counting.add_count")
    day = day or timezone.localdate()
    Warehouse.objects.select_for_update().filter(pk=warehouse.pk).first()
    planned = Count.objects.filter(warehouse=warehouse, kind=CountKind.PLANNED, planned_for=day)
    if day.weekday() >= 5 or planned.exists():
        return []
    short = short_picks_open(warehouse, day)
    candidates, quota = plan_candidates(warehouse, day, short=short)
    chosen = {c.item_id for c in candidates[:quota]}
    if not chosen:
        return []
    keys: list[tuple[int, int, int | None, str, str]] = list(
        StockLevel.objects.filter(
            location__warehouse=warehouse, location__kind=LocationKind.INTERNAL, item_id__in=chosen
        ).values_list("item_id", "location_id", "lot_id", "location__code", "item__sku")
    )
    have = {key[:3] for key in keys}
    keys += [key for key in short if key[0] in chosen and key[:3] not in have]  # a short bin with no level
    zone_of = _zones(warehouse)
    by_zone: dict[int, list[tuple]] = defaultdict(list)
    for row in keys:
        by_zone[zone_of[row[1]]].append(row)
    zones = Location.objects.in_bulk(list(by_zone))
    counts = []
    for zone_id in sorted(by_zone, key=lambda z: zones[z].code):
        rows = sorted(by_zone[zone_id], key=lambda r: (r[3], r[4], r[2] or 0))
        counts.append(
            count_create(
                warehouse=warehouse,
                keys=[r[:3] for r in rows],
                bins=[r[1] for r in rows],
                kind=CountKind.PLANNED,
                actor=actor,
                planned_for=day,
                zone=zones[zone_id],
                note=f"Plan of {day.isoformat()}, zone {zones[zone_id].code}",
            )
        )
    return counts

"""Read queries of counting: book quantities as of each line's count, ABC classes, the counts
waiting for managers, and the measures the reports show (record accuracy, shrinkage by reason,
counts done against planned, variance value by class).

Every measure takes the warehouses to look at (``warehouses``: an iterable of ``Warehouse`` or
None for all) and a period (``start``/``end`` dates, inclusive, on the line's ``counted_at``
date in the server's time zone); scoping to what a user may see is the caller's
(``catalog.permissions.warehouses_for(user)``). The value measures count only posted lines
(within tolerance or approved); record accuracy judges every submitted first count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Warehouse
from catalog.permissions import WarehouseAction, warehouses_for
from stock.models import Movement

from . import models as counting
from .models import AbcClass, CountKind, CountLine, CountStatus, ItemClass, LineStatus

_DEC = DecimalField(max_digits=20, decimal_places=4)
ZERO = Decimal(0)
JUDGED = (LineStatus.POSTED, LineStatus.APPROVED, LineStatus.REJECTED)


def with_book_quantity(lines: QuerySet[CountLine]) -> QuerySet[CountLine]:
    """``lines`` annotated with ``book_as_of``: the ledger's quantity of each line's item at its
    bin (that bin only) and lot as of its ``counted_at``, in one statement: a correlated sum over
    the movements in and out of the bin up to that moment (the (item, location, occurred_at)
    indexes of ``stock.Movement``). Lines not counted yet get 0."""
    moves = Movement.objects.filter(
        item_id=OuterRef("item_id"),
        occurred_at__lte=OuterRef("counted_at"),
    ).filter(Q(destination_id=OuterRef("location_id")) | Q(source_id=OuterRef("location_id")))
    # The same lot, or no lot on both sides (an untracked item's movements carry none).
    moves = moves.annotate(lot_key=Coalesce("lot_id", Value(0))).filter(lot_key=Coalesce(OuterRef("lot_id"), Value(0)))
    signed = Case(
        When(destination_id=OuterRef("location_id"), then=F("quantity")),
        default=-F("quantity"),
        output_field=_DEC,
    )
    total = moves.order_by().values("item_id").annotate(total=Sum(signed)).values("total")[:1]
    return lines.annotate(book_as_of=Coalesce(Subquery(total, output_field=_DEC), Value(ZERO), output_field=_DEC))


def bins_counted_blind(warehouse: Warehouse) -> set[int]:
    """The bins (location ids) of ``warehouse`` that an open blind count covers: the bins it was
    started over and those of its lines (found items included). The floor's look-up shows them
    without book quantities until the count is submitted (registered with
    ``stock.floor.engine.register_blind_bins``; docs/floor.md, "Blind counts"). A count started
    with ``blind=False`` shows the book anyway, so it hides nothing; a recount is an open blind
    count of its own, so a bin stays hidden while a line of it waits for one."""
    open_blind = counting.Count.objects.filter(warehouse=warehouse, status=CountStatus.OPEN, blind=True).values("pk")
    scope = counting.Count.locations.through.objects.filter(count__in=open_blind).values_list("location_id", flat=True)
    lines = CountLine.objects.filter(count__in=open_blind).values_list("location_id", flat=True)
    return set(scope.order_by().union(lines.order_by()))


def book_as_of(line: CountLine) -> Decimal:
    """The ``book_as_of`` of a line read through ``with_book_quantity``."""
    value: Decimal = getattr(line, "book_as_of")  # noqa: B009 - an annotation the type checker cannot see
    return value


def abc_classes(warehouse: Warehouse) -> QuerySet[ItemClass]:
    """The classed items of ``warehouse`` with their item, sorted by consumption value (highest
    first): ``abc_class`` (override, else computed), ``computed_class``, ``override_class``,
    ``consumption_value`` (cost of goods issued over the 12 months before ``computed_at``).
    Items without a row are class C and had no consumption when last classed."""
    return (
        ItemClass.objects.filter(warehouse=warehouse)
        .select_related("item", "warehouse")
        .order_by("-consumption_value", "item__sku")
    )


def variances_waiting(*, warehouses: Iterable[Warehouse] | None = None) -> QuerySet[CountLine]:
    """Lines waiting for a manager's approval (status ``waiting``), oldest count first, with
    item, bin, lot, count and counter: what the managers' digest lists."""
    lines = CountLine.objects.filter(status=LineStatus.WAITING)
    if warehouses is not None:
        lines = lines.filter(count__warehouse__in=list(warehouses))
    return lines.select_related("item__base_unit", "location", "lot", "count__warehouse", "counted_by").order_by(
        "counted_at", "pk"
    )


def variances_waiting_for(user) -> QuerySet[CountLine]:  # noqa: ANN001 - a user
    """``variances_waiting`` in the warehouses where ``user`` may approve counts."""
    return variances_waiting(warehouses=warehouses_for(user, WarehouseAction.APPROVE))


# --- Measures -----------------------------------------------------------------------------------


def _judged(
    warehouses: Iterable[Warehouse] | None, start: date | None, end: date | None, statuses: Iterable[str] = JUDGED
) -> QuerySet[CountLine]:
    lines = CountLine.objects.filter(status__in=list(statuses))
    if warehouses is not None:
        lines = lines.filter(count__warehouse__in=list(warehouses))
    tz = timezone.get_current_timezone()
    if start is not None:
        lines = lines.filter(counted_at__gte=datetime.combine(start, time.min, tzinfo=tz))
    if end is not None:
        lines = lines.filter(counted_at__lte=datetime.combine(end, time.max, tzinfo=tz))
    return lines


@dataclass(frozen=True)
class Accuracy:
    """Inventory record accuracy of one group: ``within`` of ``lines`` judged lines were within
    tolerance when counted; ``share`` = within / lines (None without lines)."""

    warehouse: str
    abc_class: str
    lines: int
    within: int

    @property
    def share(self) -> Decimal | None:
        return (Decimal(self.within) / self.lines).quantize(Decimal("0.0001")) if self.lines else None


def record_accuracy(
    *,
    warehouses: Iterable[Warehouse] | None = None,
    start: date | None = None,
    end: date | None = None,
    item_ids: Iterable[int] | QuerySet | None = None,
) -> list[Accuracy]:
    """Record accuracy per warehouse code and class (the class of each line when it was
    submitted), over first counts (not recounts) counted between ``start`` and ``end`` and
    submitted: the share within tolerance when submitted (a line that needed a recount is not
    accurate, whatever the recount found); of the items ``item_ids`` when given. Sorted by
    warehouse, then class."""
    judged = _judged(warehouses, start, end, statuses=LineStatus.values)
    if item_ids is not None:
        judged = judged.filter(item_id__in=item_ids)
    rows = (
        judged.filter(within_tolerance__isnull=False)
        .exclude(count__kind=CountKind.RECOUNT)
        .values(warehouse=F("count__warehouse__code"), cls=F("abc_class"))
        .annotate(lines=Count("pk"), within=Count("pk", filter=Q(within_tolerance=True)))
        .order_by("warehouse", "cls")
    )
    return [Accuracy(r["warehouse"], r["cls"] or AbcClass.C, r["lines"], r["within"]) for r in rows]


def shrinkage_by_reason(
    *, warehouses: Iterable[Warehouse] | None = None, start: date | None = None, end: date | None = None
) -> dict[str, Decimal]:
    """Approved variance value per reason code (negative = stock lost, positive = found), over
    lines counted between ``start`` and ``end``; within-tolerance postings have no reason and
    are summed under ``""``."""
    rows = (
        _judged(warehouses, start, end, statuses=(LineStatus.APPROVED, LineStatus.POSTED))
        .values("reason_code")
        .annotate(value=Sum("variance_value"))
        .order_by("reason_code")
    )
    return {r["reason_code"]: r["value"] or ZERO for r in rows}


def variance_value_by_class(
    *, warehouses: Iterable[Warehouse] | None = None, start: date | None = None, end: date | None = None
) -> dict[str, dict[str, Decimal]]:
    """Per class: ``net`` (signed sum) and ``absolute`` (sum of sizes) of the variance value
    posted (within tolerance or approved) for lines counted between ``start`` and ``end``."""
    rows = (
        _judged(warehouses, start, end, statuses=(LineStatus.APPROVED, LineStatus.POSTED))
        .values(cls=F("abc_class"))
        .annotate(
            net=Sum("variance_value"),
            gains=Sum("variance_value", filter=Q(variance_value__gt=0)),
            losses=Sum("variance_value", filter=Q(variance_value__lt=0)),
        )
        .order_by("cls")
    )
    return {
        r["cls"] or AbcClass.C: {"net": r["net"] or ZERO, "absolute": (r["gains"] or ZERO) - (r["losses"] or ZERO)}
        for r in rows
    }


@dataclass(frozen=True)
class CountsDone:
    """Planned count lines of a warehouse in a period and how many of them were counted."""

    warehouse: str
    planned: int
    done: int


def counts_done_vs_planned(
    *, warehouses: Iterable[Warehouse] | None = None, start: date | None = None, end: date | None = None
) -> list[CountsDone]:
    """Lines of planned counts (``count_plan``) whose ``planned_for`` falls between ``start`` and
    ``end``, per warehouse code, and how many of them were counted (any status but to-count)."""
    lines = CountLine.objects.filter(count__kind=CountKind.PLANNED)
    if warehouses is not None:
        lines = lines.filter(count__warehouse__in=list(warehouses))
    if start is not None:
        lines = lines.filter(count__planned_for__gte=start)
    if end is not None:
        lines = lines.filter(count__planned_for__lte=end)
    rows = (
        lines.values(warehouse=F("count__warehouse__code"))
        .annotate(planned=Count("pk"), done=Count("pk", filter=~Q(status=LineStatus.TO_COUNT)))
        .order_by("warehouse")
    )
    return [CountsDone(r["warehouse"], r["planned"], r["done"]) for r in rows]

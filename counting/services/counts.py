"""Counts and their lines: start a count, record what a clerk counted (or that a bin is empty),
submit, approve or reject a variance, order a recount.

Locking protocol (the package docstring of ``stock.services`` continues it; docs/counting.md):
1. the count row (``SELECT ... FOR UPDATE``) when recording or submitting;
2. one transaction-scoped advisory lock per (item, bin, lot) whose line is decided, taken in
   sorted key order (PostgreSQL; SQLite serialises writers anyway): two decisions about the same
   bin and item never interleave, so "the most recent count wins" holds under concurrency;
3. then count lines, then ``stock.services`` (stock levels, valuations) when an adjustment posts.

A decision posts ``stock.services.stock_adjust`` with ``occurred_at = counted_at`` and the line
as reference (``counting.count`` / count id / line id); the posting is idempotent by the key
``countline:<id>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from catalog.models import Category, Item, Location, Tracking, UnitOfMeasure, Warehouse
from catalog.permissions import WarehouseAction, WarehousePermissionDenied, warehouse_require
from catalog.units import quantity_problem
from common.actors import Actor
from common.numbers import plain
from stock.models import Lot, StockLevel
from stock.services import CLOCK_SKEW, StockError, adjustment_unit_cost, stock_adjust

from ..models import (
    DECIDED,
    Count,
    CountKind,
    CountLine,
    CountStatus,
    LineStatus,
    ReasonCode,
)
from ..selectors import book_as_of, with_book_quantity
from .errors import CountingError, CountStateConflict
from .policies import VALUE_STEP, class_policies, item_class, within_tolerance

COUNT_REASON = "cycle_count"  # the movement's reason code of a posting within tolerance
OPEN_LINE_STATUSES = (LineStatus.TO_COUNT, LineStatus.COUNTED, LineStatus.RECOUNT, LineStatus.WAITING)

Key = tuple[int, int, int | None]  # (item_id, location_id, lot_id)


# --- Starting a count -------------------------------------------------------------------------------


def _check_bins(warehouse: Warehouse, locations: Iterable[Location]) -> list[Location]:
    bins = list(locations)
    for location in bins:
        if not location.is_internal or location.warehouse_id != warehouse.pk:
            raise CountingError(f"{location} is not a location of warehouse {warehouse.code}.")
    return bins


def count_create(
    *,
    warehouse: Warehouse,
    keys: Sequence[Key],
    bins: Iterable[int],
    kind: str,
    actor: Actor | None,
    blind: bool = True,
    planned_for=None,  # noqa: ANN001 - a date
    zone: Location | None = None,
    excluded_user: Actor | None = None,
    note: str = "",
) -> Count:
    """The one builder of a count: a ``Count`` over ``bins`` with one to-count line per key, in
    bulk. Checks nothing (the callers did); writes only counting rows."""
    count = Count.objects.create(
        warehouse=warehouse,
        kind=kind,
        blind=blind,
        planned_for=planned_for,
        zone=zone,
        excluded_user=excluded_user,
        created_by=actor,
        note=note[:200],
    )
    count.locations.add(*sorted(set(bins)))
    CountLine.objects.bulk_create(
        [CountLine(count=count, item_id=i, location_id=loc, lot_id=lot) for i, loc, lot in keys], batch_size=2000
    )
    return count


@transaction.atomic
def count_start(
    *,
    warehouse: Warehouse,
    actor: Actor | None,
    locations: Iterable[Location] = (),
    items: Iterable[Item] = (),
    category: Category | None = None,
    blind: bool = True,
    note: str = "",
) -> Count:
    """A manager starts a count now: of chosen bins (each with its sub-locations), items or a
    category (with its sub-categories); given several, a line must match all of them. Lines are
    the warehouse's stock levels that match and are not empty; the count covers their bins and
    every chosen bin (an empty bin can be counted: what is found there is added). Needs
    ``counting.add_count`` and the warehouse's "approve adjustments and counts"."""
    warehouse_require(actor, warehouse, WarehouseAction.APPROVE, model_perm="counting.add_count")
    bins = _check_bins(warehouse, locations)
    items = list(items)
    if not bins and not items and category is None:
        raise CountingError("Choose the locations, items or category to count.")
    levels = StockLevel.objects.filter(location__warehouse=warehouse, location__kind="internal").exclude(on_hand=0)
    chosen_bins: list[int] = []
    if bins:
        chosen_bins = sorted({pk for location in bins for pk in location.descendant_ids()})
        levels = levels.filter(location_id__in=chosen_bins)
    if items:
        levels = levels.filter(item__in=items)
    if category is not None:
        below = Category.objects.filter(path__startswith=category.path + " > ").values_list("pk", flat=True)
        under = [category.pk, *below]
        levels = levels.filter(item__category_id__in=under)
    keys = sorted(set(levels.values_list("item_id", "location_id", "lot_id")), key=lambda k: (k[1], k[0], k[2] or 0))
    if not keys and not chosen_bins:
        raise CountingError(f"Nothing of that is in stock in {warehouse.code}: there is nothing to count.")
    return count_create(
        warehouse=warehouse,
        keys=keys,
        bins=[*chosen_bins, *(k[1] for k in keys)],
        kind=CountKind.MANUAL,
        actor=actor,
        blind=blind,
        note=note,
    )


# --- Counting -------------------------------------------------------------------------------------


def _lock_open_count(count: Count) -> Count:
    locked = Count.objects.select_for_update(of=("self",)).select_related("warehouse").get(pk=count.pk)
    if locked.status != CountStatus.OPEN:
        raise CountStateConflict(f"Count #{locked.pk} is {locked.get_status_display().lower()}: it takes no counts.")
    return locked


def _require_counter(actor: Actor | None, count: Count) -> None:
    warehouse_require(actor, count.warehouse, WarehouseAction.POST, model_perm="counting.change_count")
    if actor is not None and count.excluded_user_id == actor.pk:
        raise WarehousePermissionDenied(
            f"Count #{count.pk} recounts what {actor} counted: another clerk must recount it."
        )


def _counted_at(value: datetime | None, count: Count) -> datetime:
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        raise CountingError("counted_at must carry a time zone.")
    if value > now + CLOCK_SKEW:
        raise CountingError(f"counted_at {value.isoformat()} is in the future.")
    if value < count.created_at:
        raise CountingError(f"counted_at {value.isoformat()} is before count #{count.pk} was started.")
    return value


def _base_quantity(item: Item, quantity: object, unit: UnitOfMeasure | None) -> Decimal:
    """``quantity`` in ``unit`` (the item's base unit when None, or its purchase or sales unit,
    or any unit convertible to the base unit) as base units, checked against the base unit's
    decimal places."""
    try:
        number = quantity if isinstance(quantity, Decimal) else Decimal(str(quantity))
    except (InvalidOperation, ValueError) as exc:
        raise CountingError(f"The quantity {quantity!r} is not a number.") from exc
    if not number.is_finite() or number < 0:
        raise CountingError(f"The quantity {quantity!r} must be zero or more.")
    if unit is not None and unit.pk != item.base_unit_id:
        if item.purchase_unit_id == unit.pk:
            factor = item.purchase_factor_effective
        elif item.sales_unit_id == unit.pk:
            factor = item.sales_factor_effective
        else:
            factor = item.unit_factor(unit, None)
        if factor is None:
            raise CountingError(f"{item.sku} cannot be counted in {unit.code}: count it in {item.base_unit.code}.")
        number = number * factor
    if number != number.quantize(Decimal("0.0001")):
        raise CountingError(f"The quantity {plain(number)} has more than 4 decimal places.")
    if problem := quantity_problem(item, number):
        raise CountingError(problem.message)
    return number


def _check_lot(item: Item, lot: Lot | None) -> None:
    if item.tracking == Tracking.NONE and lot is not None:
        raise CountingError(f"{item.sku} is not lot-tracked: count it without a lot.")
    if item.tracking != Tracking.NONE and lot is None:
        raise CountingError(f"{item.sku} is lot-tracked: give the lot you counted.")
    if lot is not None and lot.item_id != item.pk:
        raise CountingError(f"Lot {lot.code} belongs to another item, not {item.sku}.")


@transaction.atomic
def count_line_record(
    *,
    count: Count,
    location: Location,
    item: Item,
    quantity: object,
    actor: Actor | None,
    lot: Lot | None = None,
    unit: UnitOfMeasure | None = None,
    counted_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> CountLine:
    """Record what a clerk counted of ``item`` (``lot``) at ``location`` on an open count, in
    base units (converted from ``unit``). The line is the planned one, or a new unexpected line
    when the item was found there. Counting again before submitting replaces the count (it is
    what is there, not an addition); a request sent again with the same ``idempotency_key``
    returns the line and changes nothing. The count row is locked, so a submit waits for a
    count in progress. Needs ``counting.change_count`` and the warehouse's "post"; the clerk
    whose line is recounted may not count the recount."""
    if idempotency_key and (done := CountLine.objects.filter(idempotency_key=idempotency_key).first()):
        return done
    _require_counter(actor, count)
    count = _lock_open_count(count)
    if not count.locations.filter(pk=location.pk).exists():
        raise CountingError(f"{location} is not on count #{count.pk}: count the bins it lists.")
    _check_lot(item, lot)
    base = _base_quantity(item, quantity, unit)
    when = _counted_at(counted_at, count)
    line, _ = CountLine.objects.select_for_update().get_or_create(
        count=count, location=location, item=item, lot=lot, defaults={"expected": False}
    )
    line.counted_quantity, line.counted_at, line.counted_by = base, when, actor
    line.status = LineStatus.COUNTED
    line.idempotency_key = idempotency_key or None
    line.save(update_fields=["counted_quantity", "counted_at", "counted_by", "status", "idempotency_key"])
    return line


@transaction.atomic
def count_bin_empty(
    *,
    count: Count,
    location: Location,
    actor: Actor | None,
    counted_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> list[CountLine]:
    """Bin empty: every line of ``location`` on the open count is counted as zero (the key, if
    given, is kept on the first line: sent again, nothing changes). Same permissions as
    ``count_line_record``."""
    if idempotency_key and (done := CountLine.objects.filter(idempotency_key=idempotency_key).first()):
        return list(done.count.lines.filter(location=done.location))
    _require_counter(actor, count)
    count = _lock_open_count(count)
    if not count.locations.filter(pk=location.pk).exists():
        raise CountingError(f"{location} is not on count #{count.pk}: count the bins it lists.")
    when = _counted_at(counted_at, count)
    lines = list(count.lines.select_for_update().filter(location=location))
    for number, line in enumerate(lines):
        line.counted_quantity, line.counted_at, line.counted_by = Decimal(0), when, actor
        line.status = LineStatus.COUNTED
        line.idempotency_key = (idempotency_key or None) if number == 0 else line.idempotency_key
        line.save(update_fields=["counted_quantity", "counted_at", "counted_by", "status", "idempotency_key"])
    return lines


# --- Deciding -------------------------------------------------------------------------------------


def _key_locks(keys: Iterable[Key]) -> None:
    """Advisory locks (transaction-scoped) on each (item, bin, lot), in sorted order."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted(set(keys), key=lambda k: (k[0], k[1], k[2] or 0)):
            digest = hashlib.blake2b(f"countline:{key[0]}:{key[1]}:{key[2] or 0}".encode(), digest_size=8).digest()
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def _same_key(line: CountLine) -> QuerySet[CountLine]:
    lot = Q(lot_id=line.lot_id) if line.lot_id is not None else Q(lot__isnull=True)
    return CountLine.objects.filter(lot, item_id=line.item_id, location_id=line.location_id).exclude(pk=line.pk)


_MEASURED = ["book_quantity", "variance", "unit_cost", "variance_value", "abc_class", "within_tolerance"]


@dataclass(frozen=True)
class _Measured:
    book: Decimal
    variance: Decimal
    value: Decimal


def _measure(line: CountLine, *, book: Decimal | None = None) -> _Measured:
    """Fill book quantity (as of ``counted_at``), variance, its value and class on ``line``."""
    if line.counted_quantity is None:
        raise CountStateConflict(f"Line #{line.pk} is not counted.")
    if book is None:
        book = book_as_of(with_book_quantity(CountLine.objects.filter(pk=line.pk)).get())
    warehouse = line.count.warehouse
    unit_cost = adjustment_unit_cost(item=line.item, warehouse=warehouse)
    variance = line.counted_quantity - book
    measured = _Measured(book, variance, (variance * unit_cost).quantize(VALUE_STEP))
    line.book_quantity, line.variance, line.variance_value = measured.book, measured.variance, measured.value
    line.unit_cost = unit_cost
    line.abc_class = line.abc_class or item_class(warehouse=warehouse, item_id=line.item_id)
    return measured


def _post(line: CountLine, *, actor: Actor | None, status: str, reason: str = "", note: str = "") -> None:
    """Decide ``line`` (its key advisory-locked): superseded when a later count of the same bin,
    item and lot already posted; else measure it again as of ``counted_at`` (a back-dated
    posting may have changed the book since), post the variance dated ``counted_at`` and
    supersede the earlier lines of the same key still waiting."""
    now = timezone.now()
    later = _same_key(line).filter(status__in=(LineStatus.POSTED, LineStatus.APPROVED), counted_at__gt=line.counted_at)
    if (latest := later.order_by("-counted_at").first()) is not None:
        line.status, line.decided_at = LineStatus.SUPERSEDED, now
        line.decision_note = f"A later count (line #{latest.pk}) was posted first."
        line.save(update_fields=["status", "decided_at", "decision_note"])
        return
    measured = _measure(line)
    if measured.variance != 0:
        line.movement = stock_adjust(
            item=line.item,
            location=line.location,
            lot=line.lot,
            quantity_delta=measured.variance,
            reason_code=reason or COUNT_REASON,
            actor=actor,
            occurred_at=line.counted_at,
            idempotency_key=f"countline:{line.pk}",
            reference_type="counting.count",
            reference_id=str(line.count_id),
            reference_line=str(line.pk),
            note=note or f"Count #{line.count_id}, counted by {line.counted_by or 'the system'}.",
        )
    line.status, line.reason_code, line.decided_at = status, reason, now
    line.decided_by = actor
    line.decision_note = note[:500]
    line.save(
        update_fields=[*_MEASURED, "movement", "status", "reason_code", "decided_at", "decided_by", "decision_note"]
    )
    earlier = _same_key(line).filter(
        status__in=(LineStatus.RECOUNT, LineStatus.WAITING), counted_at__lte=line.counted_at
    )
    counts = set(earlier.values_list("count_id", flat=True))
    earlier.update(status=LineStatus.SUPERSEDED, decided_at=now, decision_note=f"Superseded by line #{line.pk}.")
    _close_done(counts)


def _close_done(count_ids: Iterable[int]) -> None:
    """Submitted counts among ``count_ids`` whose lines are all decided become closed."""
    open_lines = CountLine.objects.filter(count=OuterRef("pk")).exclude(status__in=DECIDED)
    Count.objects.filter(pk__in=list(count_ids), status=CountStatus.SUBMITTED).exclude(Exists(open_lines)).update(
        status=CountStatus.CLOSED
    )


def _order_recount(lines: list[CountLine], *, actor: Actor | None) -> Count:
    """One recount covering ``lines`` (of one count), excluding the clerk who counted them."""
    first = lines[0]
    recount = count_create(
        warehouse=first.count.warehouse,
        keys=[(line.item_id, line.location_id, line.lot_id) for line in lines],
        bins=[line.location_id for line in lines],
        kind=CountKind.RECOUNT,
        actor=actor,
        excluded_user=first.counted_by,
        note=f"Recount of count #{first.count_id}",
    )
    new_lines = {(n.item_id, n.location_id, n.lot_id): n for n in recount.lines.all()}
    for line in lines:
        line.recount_line = new_lines[(line.item_id, line.location_id, line.lot_id)]
        line.save(update_fields=["recount_line"])
    return recount


@transaction.atomic
def count_submit(*, count: Count, actor: Actor | None, idempotency_key: str | None = None) -> Count:
    """Submit an open count (every line counted, or none of it is): each line is measured
    against the ledger as of its ``counted_at``; within its class's tolerance it posts at once
    (as the system, ``actor=None``: the tolerance is the managers' standing approval; the line
    names the clerk) and is ``posted``; beyond it, a first count goes to a recount by another
    clerk (``recount``, one recount count for all such lines) and a recount waits for a
    manager (``waiting``). A posting refused by the ledger (stock reserved meanwhile) leaves
    the line waiting with the reason in its note. Same permissions as counting.
    ``idempotency_key`` (a floor form's) is kept on the count: sent again, it is returned as it is."""
    if idempotency_key and (done := Count.objects.filter(submit_key=idempotency_key).first()):
        return done
    _require_counter(actor, count)
    count = _lock_open_count(count)
    missing = list(count.lines.filter(status=LineStatus.TO_COUNT).select_related("item", "location")[:6])
    if missing:
        shown = ", ".join(f"{line.item.sku} @ {line.location.code}" for line in missing[:5])
        more = " and more" if len(missing) > 5 else ""
        raise CountingError(
            f"Count #{count.pk} still has lines to count: {shown}{more}. Count them or mark the bin empty."
        )
    keys = list(count.lines.values_list("item_id", "location_id", "lot_id"))
    _key_locks(keys)
    policies = class_policies(count.warehouse)
    lines = list(
        with_book_quantity(count.lines.select_for_update(of=("self",)).filter(status=LineStatus.COUNTED))
        .select_related("item__base_unit", "location__warehouse", "lot", "counted_by", "count__warehouse")
        .order_by("pk")
    )
    to_recount = []
    for line in lines:
        measured = _measure(line, book=book_as_of(line))
        line.within_tolerance = within_tolerance(
            policy=policies[line.abc_class], book=measured.book, variance=measured.variance, value=measured.value
        )
        if line.within_tolerance:
            try:
                with transaction.atomic():
                    _post(line, actor=None, status=LineStatus.POSTED)
                continue
            except StockError as exc:
                line.status, line.decision_note = LineStatus.WAITING, f"Could not post: {exc.message}"[:500]
        elif count.kind == CountKind.RECOUNT:
            line.status = LineStatus.WAITING
        else:
            line.status = LineStatus.RECOUNT
            to_recount.append(line)
        line.save(update_fields=[*_MEASURED, "status", "decision_note"])
    if to_recount:
        _order_recount(to_recount, actor=actor)
    count.status, count.submitted_by, count.submitted_at = CountStatus.SUBMITTED, actor, timezone.now()
    count.submit_key = idempotency_key or None
    count.save(update_fields=["status", "submitted_by", "submitted_at", "submit_key"])
    _close_done([count.pk])
    count.refresh_from_db()
    return count


def _lock_line(line: CountLine) -> CountLine:
    _key_locks([(line.item_id, line.location_id, line.lot_id)])
    return (
        CountLine.objects.select_for_update(of=("self",))
        .select_related("item__base_unit", "location__warehouse", "lot", "count__warehouse", "counted_by")
        .get(pk=line.pk)
    )


def _reason(reason: str) -> str:
    code = (reason or "").strip().lower()
    if code not in ReasonCode.values:
        raise CountingError(f"Give a reason code: one of {', '.join(ReasonCode.values)} (got {reason!r}).")
    return code


def _require_approver(actor: Actor | None, line: CountLine) -> None:
    warehouse_require(actor, line.count.warehouse, WarehouseAction.APPROVE, model_perm="counting.change_countline")
    if actor is not None and actor.pk == line.counted_by_id:
        raise WarehousePermissionDenied(f"{actor} counted line #{line.pk}: another manager must decide it.")


@transaction.atomic
def count_line_approve(*, line: CountLine, actor: Actor | None, reason: str, note: str = "") -> CountLine:
    """A manager approves a variance waiting for approval, with a reason code: it posts (as
    the manager: ``stock_adjust`` needs their "adjust" right) the variance as of the line's
    ``counted_at``, dated then, to or from the inventory loss/gain location; unless a later
    count of the same bin and item was posted first (the line is then superseded). Needs
    ``counting.change_countline`` and the warehouse's "approve"; not the clerk who counted."""
    code = _reason(reason)
    line = _lock_line(line)
    _require_approver(actor, line)
    if line.status != LineStatus.WAITING:
        raise CountStateConflict(
            f"Line #{line.pk} is {line.get_status_display().lower()}: only a waiting line is approved."
        )
    _post(line, actor=actor, status=LineStatus.APPROVED, reason=code, note=note)
    _close_done([line.count_id])
    return line


@transaction.atomic
def count_line_reject(
    *, line: CountLine, actor: Actor | None, reason: str, note: str = "", recount: bool = False
) -> CountLine:
    """A manager rejects a variance waiting for approval (or for a recount): stock stays as it
    is, the lines waiting for this one are rejected with it, and with ``recount`` another recount
    of the same bin and item is ordered (by another clerk than the one who counted this)."""
    code = _reason(reason)
    line = _lock_line(line)
    _require_approver(actor, line)
    if line.status not in (LineStatus.WAITING, LineStatus.RECOUNT):
        raise CountStateConflict(f"Line #{line.pk} is {line.get_status_display().lower()}: it cannot be rejected.")
    now = timezone.now()
    chain = [line, *CountLine.objects.filter(recount_line=line, status=LineStatus.RECOUNT)]
    for each in chain:
        each.status, each.reason_code, each.decided_by, each.decided_at = LineStatus.REJECTED, code, actor, now
        each.decision_note = note[:500]
        each.save(update_fields=["status", "reason_code", "decided_by", "decided_at", "decision_note"])
    if recount:
        _order_recount([line], actor=actor)
    _close_done({each.count_id for each in chain})
    return line

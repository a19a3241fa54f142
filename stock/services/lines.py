"""A ledger line before it is posted (``MovementLine``) and the rules every line obeys:
numbers, sides by movement kind, lots, active locations, the receipt date. ``_validate_line``
is the one check of a line; nothing here touches the database except ``_virtual``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils import timezone

from catalog.models import Item, ItemStatus, Location, LocationKind, Tracking, Warehouse
from catalog.permissions import WarehouseAction, warehouse_allows
from catalog.units import quantity_problem
from common.actors import Actor

from ..models import (
    QTY_STEP,
    ZERO,
    Lot,
    Movement,
    MovementKind,
)
from .errors import BackdatedTooFar, InvalidMovement, QuantityFinerThanUnit, _fmt

LevelKey = tuple[int, int, int | None]  # (item_id, location_id, lot_id)
ValuationKey = tuple[int, int]  # (item_id, warehouse_id)


CLOCK_SKEW = timedelta(minutes=5)

# Which location kinds each movement kind may take from and bring to.
ALLOWED_SIDES: dict[str, tuple[set[str], set[str]]] = {
    MovementKind.RECEIPT: ({LocationKind.SUPPLIER}, {LocationKind.INTERNAL}),
    MovementKind.ISSUE: ({LocationKind.INTERNAL}, {LocationKind.CUSTOMER}),
    MovementKind.TRANSFER: (
        {LocationKind.INTERNAL, LocationKind.TRANSIT},
        {LocationKind.INTERNAL, LocationKind.TRANSIT},
    ),
    MovementKind.ADJUSTMENT: (
        {LocationKind.INTERNAL, LocationKind.INVENTORY_ADJUSTMENT},
        {LocationKind.INTERNAL, LocationKind.INVENTORY_ADJUSTMENT},
    ),
    MovementKind.SCRAP: ({LocationKind.INTERNAL}, {LocationKind.SCRAP}),
    MovementKind.CUSTOMER_RETURN: ({LocationKind.CUSTOMER}, {LocationKind.INTERNAL}),
    MovementKind.SUPPLIER_RETURN: ({LocationKind.INTERNAL}, {LocationKind.SUPPLIER}),
}


@dataclass(frozen=True)
class AvailableAfter:
    """Asked of a posting by a caller that answers with what is available after it (a sale):
    ``by_item`` gets, per item id, the available quantity (on hand - reserved) in the internal
    locations of ``warehouse`` when the posting reads it in its own statement (the one-line
    posting function); the caller reads the items missing there (``stock_available_by_item``)."""

    warehouse: Warehouse
    by_item: dict[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class MovementLine:
    """One movement to post. ``unit_cost`` prices stock coming into a warehouse from outside
    (receipts, gains, returns); None means the current cost there (average, last, or the
    item's standard cost). ``total_cost``, when given, is the exact cost such a line brings in
    (instead of ``quantity x unit_cost`` rounded): the last arrival of a shipment carries what is
    left of the shipment's value, to the last decimal. ``reserved`` is the part of ``quantity``
    that consumes the source level's reserved stock (reservation consume); it must not exceed
    ``quantity``. ``rounds_off`` (set only for adjustments asked with ``StockRequest.rounds_off``,
    see ``batches._rounds_off``) lets an adjustment finer than the unit through when it makes the
    level countable again."""

    item: Item
    quantity: Decimal
    source: Location
    destination: Location
    kind: str
    lot: Lot | None = None
    unit_cost: Decimal | None = None
    reason_code: str = ""
    note: str = ""
    reference_type: str = ""
    reference_id: str = ""
    reference_line: str = ""
    reserved: Decimal = ZERO
    reverses: Movement | None = None
    total_cost: Decimal | None = None
    rounds_off: bool = False  # an adjustment bringing old stock finer than its unit to a countable level
    origin: Movement | None = None  # the receipt a supplier return, or the issue a customer return, gives back


def _quantity(value: object, what: str = "quantity") -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidMovement(f"The {what} {value!r} is not a number.") from exc
    if not number.is_finite():
        raise InvalidMovement(f"The {what} {value!r} is not a number.")
    if number.quantize(QTY_STEP) != number:
        raise InvalidMovement(f"The {what} {_fmt(number)} has more than 4 decimal places.")
    return number


def _money(value: object, what: str = "unit cost") -> Decimal:
    number = _quantity(value, what)
    if number < 0:
        raise InvalidMovement(f"The {what} cannot be negative ({_fmt(number)}).")
    return number


def _occurred_at(
    value: datetime | None,
    *,
    actor: Actor | None = None,
    warehouses: Iterable[Warehouse] | None = None,
) -> datetime:
    """When a posting happened: now by default; aware, not in the future. Given the
    ``warehouses`` the posting touches (internal sides), also the back-dating rule (docs/ledger.md,
    "Back-dating"): at most ``STOCK_BACKDATE_DAYS`` days back, further only for an actor who may
    adjust stock in every one of them (``actor=None``, the system, may), and never into a closed
    period (``_period_closed``). Without ``warehouses`` only the first checks run: callers that
    need ``when`` early check again once the lines are known (``_post_movements`` always does)."""
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        raise InvalidMovement("occurred_at must carry a time zone.")
    if value > now + CLOCK_SKEW:
        raise InvalidMovement(f"occurred_at {value.isoformat()} is in the future.")
    if warehouses is not None:
        _backdating_require(value, now, actor=actor, warehouses={w.pk: w for w in warehouses}.values())
    return value


def _backdating_require(when: datetime, now: datetime, *, actor: Actor | None, warehouses: Iterable[Warehouse]) -> None:
    warehouses = list(warehouses)
    for warehouse in warehouses:
        if _period_closed(warehouse, when):
            raise BackdatedTooFar(
                f"occurred_at {when.date().isoformat()} is in a closed period of warehouse {warehouse.code}."
            )
    days = settings.STOCK_BACKDATE_DAYS
    if actor is None or when >= now - timedelta(days=days):
        return
    lacking = [w.code for w in warehouses if not warehouse_allows(actor, w, WarehouseAction.ADJUST)]
    if lacking or not (warehouses or warehouse_allows(actor, None, WarehouseAction.ADJUST)):
        where = ", ".join(sorted(lacking)) or "any warehouse"
        raise BackdatedTooFar(
            f"occurred_at {when.date().isoformat()} is more than {days} days back; posting further back "
            f"needs the adjust permission in {where}."
        )


def _period_closed(warehouse: Warehouse, when: datetime) -> bool:
    """The hook for closed accounting periods: no posting may fall into one, whoever posts it.
    There are no periods yet, so nothing is closed; when they exist, answer here (one place)."""
    return False


def _warehouse_action(kind: str) -> str:
    """The warehouse right a movement of ``kind`` needs (catalog/permissions.py): "adjust" for
    adjustments and reversals, "post" for everything else."""
    if kind in (MovementKind.ADJUSTMENT, MovementKind.REVERSAL):
        return WarehouseAction.ADJUST
    return WarehouseAction.POST


def _posting_warehouses(lines: Sequence[MovementLine]) -> list[Warehouse]:
    """The warehouses of the internal sides of ``lines`` (virtual locations have none)."""
    found: dict[int, Warehouse] = {}
    for line in lines:
        for location in (line.source, line.destination):
            if location.warehouse_id is not None:
                found[location.warehouse_id] = location.home_warehouse
    return list(found.values())


def _validate_line(line: MovementLine) -> MovementLine:
    item, quantity = line.item, _quantity(line.quantity)
    if quantity <= 0:
        raise InvalidMovement(f"The quantity must be greater than zero (got {_fmt(quantity)}).")
    # The one rule (catalog.units), here for every path. A reversal undoes exactly what was
    # posted, so it may carry an old quantity finer than the unit: that is how such stock is fixed.
    if line.kind != MovementKind.REVERSAL and not line.rounds_off and (problem := quantity_problem(item, quantity)):
        raise QuantityFinerThanUnit(problem)
    if line.source.pk == line.destination.pk:
        raise InvalidMovement(f"{line.source} is both source and destination.")
    reserved = _quantity(line.reserved, "reserved quantity")
    if reserved < 0 or reserved > quantity:
        raise InvalidMovement("The reserved part must be between zero and the quantity.")
    if line.kind != MovementKind.REVERSAL:
        if line.kind not in ALLOWED_SIDES:
            raise InvalidMovement(f"Unknown movement kind {line.kind!r}.")
        sources, destinations = ALLOWED_SIDES[line.kind]
        if line.source.kind not in sources or line.destination.kind not in destinations:
            raise InvalidMovement(
                f"A {MovementKind(line.kind).label.lower()} goes from "
                f"{' or '.join(sorted(sources))} to {' or '.join(sorted(destinations))}; "
                f"got {line.source} ({line.source.kind}) to {line.destination} ({line.destination.kind})."
            )
        if line.kind == MovementKind.RECEIPT and item.status == ItemStatus.DISCONTINUED:
            raise InvalidMovement(f"{item.sku} is discontinued: it cannot be received.")
    for location in (line.source, line.destination):
        if location.is_internal and (not location.active or not location.home_warehouse.active):
            raise InvalidMovement(f"Location {location} is inactive.")
    if item.tracking == Tracking.NONE and line.lot is not None:
        raise InvalidMovement(f"{item.sku} is not lot-tracked: post it without a lot.")
    if item.tracking != Tracking.NONE:
        if line.lot is None:
            raise InvalidMovement(f"{item.sku} is {item.get_tracking_display().lower()}-tracked: give its lot.")
        if line.lot.item_id != item.pk:
            raise InvalidMovement(f"Lot {line.lot.code} belongs to another item, not {item.sku}.")
        if item.perishable and line.lot.expiry_date is None:
            raise InvalidMovement(f"Lot {line.lot.code} of perishable {item.sku} needs an expiry date.")
        if item.tracking == Tracking.SERIAL and quantity != quantity.to_integral():
            raise InvalidMovement(f"{item.sku} is serial-tracked: quantities are whole units.")
    expiry = line.lot.expiry_date if line.lot is not None else None
    if (
        line.lot is not None
        and line.kind == MovementKind.ISSUE
        and expiry is not None
        and expiry < timezone.localdate()
    ):
        raise InvalidMovement(f"Lot {line.lot.code} of {item.sku} expired on {expiry}: it cannot be sold; scrap it.")
    if line.origin is not None:
        _origin_check(line)
    unit_cost = None if line.unit_cost is None else _money(line.unit_cost)
    total_cost = None if line.total_cost is None else _money(line.total_cost, "total cost")
    if (
        quantity is line.quantity
        and reserved is line.reserved
        and unit_cost is line.unit_cost
        and total_cost is line.total_cost
    ):
        return line  # already Decimals (the usual case): no copy
    return replace(line, quantity=quantity, reserved=reserved, unit_cost=unit_cost, total_cost=total_cost)


def reversal_line(original: Movement, note: str) -> MovementLine:
    """The ONE builder of a reversal: the same item, lot and quantity from the original's
    destination back to its source; a value-only entry (quantity 0) keeps its sides and takes
    the opposite ``total_cost`` (and names what the original named)."""
    value_only = original.quantity == 0
    return MovementLine(
        item=original.item,
        quantity=original.quantity,
        source=original.source if value_only else original.destination,
        destination=original.destination if value_only else original.source,
        kind=MovementKind.REVERSAL,
        lot=original.lot,
        reason_code=original.reason_code,
        note=note,
        reference_type=original.reference_type,
        reference_id=original.reference_id,
        reference_line=original.reference_line,
        reverses=original,
        origin=original.origin if value_only else None,
        total_cost=-original.total_cost if value_only else None,
    )


# A return may name the movement it gives back: (its kind, the kind it names, the side of the
# named movement that must be in the return's warehouse).
RETURNS_NAME = {
    MovementKind.SUPPLIER_RETURN: (MovementKind.RECEIPT, "destination"),
    MovementKind.CUSTOMER_RETURN: (MovementKind.ISSUE, "source"),
}


def _origin_check(line: MovementLine) -> None:
    """A supplier return names a receipt of the same item into its warehouse, a customer return
    an issue of the same item (from any warehouse); nothing else names a movement."""
    origin = line.origin
    assert origin is not None
    if line.kind not in RETURNS_NAME:
        raise InvalidMovement(f"A {MovementKind(line.kind).label.lower()} cannot name a movement it returns.")
    named_kind, side = RETURNS_NAME[MovementKind(line.kind)]
    here = line.source if line.kind == MovementKind.SUPPLIER_RETURN else line.destination
    if origin.item_id != line.item.pk or origin.kind != named_kind:
        raise InvalidMovement(
            f"A {MovementKind(line.kind).label.lower()} of {line.item.sku} names a "
            f"{MovementKind(named_kind).label.lower()} of {line.item.sku}; #{origin.pk} is not one."
        )
    if line.kind == MovementKind.SUPPLIER_RETURN and getattr(origin, side).warehouse_id != here.warehouse_id:
        raise InvalidMovement(f"Receipt #{origin.pk} went into another warehouse than {here}.")


def _approval_limits() -> tuple[Decimal, Decimal]:
    """(quantity, value) above which scrap, adjustments and write-downs need a manager's approval."""
    return (
        Decimal(str(getattr(settings, "STOCK_ADJUSTMENT_APPROVAL_QUANTITY", "10"))),
        Decimal(str(getattr(settings, "STOCK_ADJUSTMENT_APPROVAL_VALUE", "100"))),
    )


def _require_reason(reason_code: str, what: str) -> str:
    reason_code = (reason_code or "").strip()
    if not reason_code:
        raise InvalidMovement(f"A {what} needs a reason code.")
    return reason_code


def _virtual(kind: str) -> Location:
    """The virtual location of ``kind``, from this process's short cache (``Location.objects.virtual``)."""
    return Location.objects.virtual(kind, cached=True)


def _level_policy(location: Location) -> bool:
    """May this location's level go negative? Virtual locations always; internal ones when
    their warehouse allows negative stock."""
    return not location.is_internal or location.home_warehouse.allow_negative_stock


def _warehouse_of(location: Location) -> int | None:
    return location.warehouse_id if location.is_internal else None

"""The single business actions (receive, issue, scrap, return, adjust, transfer, ship,
arrive, reverse). Each is a thin wrapper: a ``StockRequest`` posted by ``batches.requests_post``,
or, for the actions a request cannot express (shipment arrivals, reversals), one
``MovementLine`` posted by ``movement_post``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, Tracking, Warehouse

from ..models import (
    MONEY_STEP,
    ZERO,
    Lot,
    Movement,
    MovementKind,
)
from .errors import AlreadyReversed, InsufficientStock, InvalidMovement, _fmt
from .lines import MovementLine, _occurred_at, _one, _quantity, _require_reason, _virtual
from .lots import _existing_lot, _resolve_lot
from .picking import FEFO_RETRIES, fefo_plan
from .posting import movement_post, movements_for_key


def stock_receive(
    *,
    item: Item,
    location: Location,
    quantity: Decimal,
    actor,
    unit_cost: Decimal | None = None,
    lot: Lot | str | None = None,
    expiry_date: date | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    note: str = "",
) -> Movement:
    """Unplanned receipt from the supplier location into ``location`` at ``unit_cost``
    (default: the item's standard cost)."""
    when = _occurred_at(occurred_at)
    with transaction.atomic():
        line = MovementLine(
            item=item,
            quantity=quantity,
            source=_virtual(LocationKind.SUPPLIER),
            destination=location,
            kind=MovementKind.RECEIPT,
            lot=_resolve_lot(item, lot, expiry_date, received_on=timezone.localdate(when)),
            unit_cost=item.standard_cost if unit_cost is None else unit_cost,
            reference_type=reference_type,
            reference_id=reference_id,
            reference_line=reference_line,
            note=note,
        )
        return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def _outgoing(
    *,
    kind: str,
    destination_kind: str,
    item: Item,
    quantity: Decimal,
    actor,
    location: Location | None,
    warehouse: Warehouse | None,
    lot: Lot | str | None,
    reason_code: str,
    idempotency_key: str | None,
    occurred_at: datetime | None,
    reference_type: str,
    reference_id: str,
    reference_line: str,
    note: str,
) -> list[Movement]:
    """Take stock out to a virtual location. With a location (and the lot, if tracked) it takes
    from there; otherwise the FEFO plan over the warehouse or the location's subtree chooses.
    The plan is made without locks and checked under lock by ``movement_post``; if a concurrent
    posting took the stock meanwhile, the plan is made again (at most ``FEFO_RETRIES`` times)."""
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous
    quantity = _quantity(quantity)
    lot = _existing_lot(item, lot)
    destination = _virtual(destination_kind)
    common = {
        "kind": kind,
        "reason_code": reason_code,
        "reference_type": reference_type,
        "reference_id": reference_id,
        "reference_line": reference_line,
        "note": note,
    }
    direct = (
        location is not None and (item.tracking == Tracking.NONE or lot is not None) and not location.children.exists()
    )
    if direct:
        line = MovementLine(item=item, quantity=quantity, source=location, destination=destination, lot=lot, **common)
        return movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)
    if warehouse is None and location is None:
        raise InvalidMovement("Say where to take the stock from: a warehouse or a location.")
    for attempt in range(FEFO_RETRIES):
        plan = fefo_plan(item=item, quantity=quantity, warehouse=warehouse, location=location, lot=lot)
        lines = [
            MovementLine(item=item, quantity=take, source=loc, destination=destination, lot=plan_lot, **common)
            for loc, plan_lot, take in plan
        ]
        try:
            return movement_post(lines=lines, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)
        except InsufficientStock:
            if attempt == FEFO_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def stock_issue(
    *,
    item: Item,
    quantity: Decimal,
    actor,
    location: Location | None = None,
    warehouse: Warehouse | None = None,
    lot: Lot | str | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    note: str = "",
) -> list[Movement]:
    """Sell or issue stock to the customer location (FEFO when the place is not exact)."""
    return _outgoing(
        kind=MovementKind.ISSUE,
        destination_kind=LocationKind.CUSTOMER,
        item=item,
        quantity=quantity,
        actor=actor,
        location=location,
        warehouse=warehouse,
        lot=lot,
        reason_code="",
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
    )


def stock_scrap(
    *,
    item: Item,
    quantity: Decimal,
    location: Location,
    reason_code: str,
    actor,
    lot: Lot | str | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
) -> list[Movement]:
    """Move damaged or expired stock to the scrap location (reason required)."""
    return _outgoing(
        kind=MovementKind.SCRAP,
        destination_kind=LocationKind.SCRAP,
        item=item,
        quantity=quantity,
        actor=actor,
        location=location,
        warehouse=None,
        lot=lot,
        reason_code=_require_reason(reason_code, "scrap"),
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
    )


def stock_supplier_return(
    *,
    item: Item,
    quantity: Decimal,
    location: Location,
    actor,
    lot: Lot | str | None = None,
    reason_code: str = "",
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    note: str = "",
) -> list[Movement]:
    """Send stock back to the supplier (costed like an issue)."""
    return _outgoing(
        kind=MovementKind.SUPPLIER_RETURN,
        destination_kind=LocationKind.SUPPLIER,
        item=item,
        quantity=quantity,
        actor=actor,
        location=location,
        warehouse=None,
        lot=lot,
        reason_code=reason_code,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
    )


def stock_customer_return(
    *,
    item: Item,
    quantity: Decimal,
    location: Location,
    actor,
    unit_cost: Decimal | None = None,
    lot: Lot | str | None = None,
    expiry_date: date | None = None,
    reason_code: str = "",
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    note: str = "",
) -> Movement:
    """Take back stock a customer returned, at ``unit_cost`` (default: the current cost)."""
    with transaction.atomic():
        line = MovementLine(
            item=item,
            quantity=quantity,
            source=_virtual(LocationKind.CUSTOMER),
            destination=location,
            kind=MovementKind.CUSTOMER_RETURN,
            lot=_resolve_lot(item, lot, expiry_date),
            unit_cost=unit_cost,
            reason_code=reason_code,
            reference_type=reference_type,
            reference_id=reference_id,
            reference_line=reference_line,
            note=note,
        )
        return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def stock_adjust(
    *,
    item: Item,
    location: Location,
    quantity_delta: Decimal,
    reason_code: str,
    actor,
    lot: Lot | str | None = None,
    expiry_date: date | None = None,
    unit_cost: Decimal | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
) -> Movement:
    """Correct the quantity at a location: a positive delta is a gain from the inventory
    loss/gain location (valued at ``unit_cost`` or the current cost), a negative one a loss to
    it. A reason code is mandatory."""
    reason_code = _require_reason(reason_code, "stock adjustment")
    delta = _quantity(quantity_delta, "quantity change")
    if delta == 0:
        raise InvalidMovement("An adjustment of zero changes nothing.")
    adjustment = _virtual(LocationKind.INVENTORY_ADJUSTMENT)
    with transaction.atomic():
        the_lot = _resolve_lot(item, lot, expiry_date) if delta > 0 else _existing_lot(item, lot)
        source, destination = (adjustment, location) if delta > 0 else (location, adjustment)
        line = MovementLine(
            item=item,
            quantity=abs(delta),
            source=source,
            destination=destination,
            kind=MovementKind.ADJUSTMENT,
            lot=the_lot,
            unit_cost=unit_cost if delta > 0 else None,
            reason_code=reason_code,
            note=note,
            reference_type=reference_type,
            reference_id=reference_id,
            reference_line=reference_line,
        )
        return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def stock_transfer(
    *,
    item: Item,
    quantity: Decimal,
    source: Location,
    destination: Location,
    actor,
    lot: Lot | str | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
) -> Movement:
    """Move stock between two internal locations at once (same or another warehouse; between
    warehouses the cost leaves one valuation and enters the other)."""
    if not (source.is_internal and destination.is_internal):
        raise InvalidMovement("A transfer goes between two internal locations; use ship/arrive for transit.")
    line = MovementLine(
        item=item,
        quantity=quantity,
        source=source,
        destination=destination,
        kind=MovementKind.TRANSFER,
        lot=_existing_lot(item, lot),
        note=note,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
    )
    return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def transfer_ship(
    *,
    item: Item,
    quantity: Decimal,
    source: Location,
    to_warehouse: Warehouse,
    actor,
    lot: Lot | str | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
    reference_id: str = "",
) -> Movement:
    """Ship stock towards another warehouse: it leaves ``source`` (and its warehouse's value)
    for the in-transit location until ``transfer_arrive``."""
    if source.warehouse_id == to_warehouse.pk:
        raise InvalidMovement("Within one warehouse, transfer directly instead of shipping.")
    line = MovementLine(
        item=item,
        quantity=quantity,
        source=source,
        destination=_virtual(LocationKind.TRANSIT),
        kind=MovementKind.TRANSFER,
        lot=_existing_lot(item, lot),
        note=note,
        reference_type="stock.shipment",
        reference_id=reference_id or f"{source.warehouse.code}>{to_warehouse.code}",
        reference_line=to_warehouse.code,
    )
    return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def _shipment_arrivals(shipment: Movement):  # noqa: ANN202 - a Movement QuerySet
    """The arrivals of a shipment that still stand. A reversed arrival is left out, and so is
    its reversal, which copies the arrival's reference but sends the stock back to transit."""
    return Movement.objects.filter(
        reference_type="stock.shipment-arrival", reference_id=str(shipment.pk), reversed_by__isnull=True
    ).exclude(kind=MovementKind.REVERSAL)


def shipment_arrived_quantity(shipment: Movement) -> Decimal:
    """How much of a shipment has arrived (net of reversed arrivals)."""
    return sum((m.quantity for m in _shipment_arrivals(shipment)), ZERO)


@transaction.atomic
def transfer_arrive(
    *,
    shipment: Movement,
    destination: Location,
    actor,
    quantity: Decimal | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
) -> Movement:
    """Receive (part of) a shipment at ``destination``, at the cost it left with. The shipment
    row is locked first, so two arrivals cannot exceed what was shipped."""
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous[0]
    shipment = Movement.objects.select_for_update(of=("self",)).select_related("item", "lot").get(pk=shipment.pk)
    transit = _virtual(LocationKind.TRANSIT)
    if shipment.destination_id != transit.pk or Movement.objects.filter(reverses=shipment).exists():
        raise InvalidMovement(f"Movement #{shipment.pk} is not an open shipment.")
    if not destination.is_internal or destination.warehouse.code != shipment.reference_line:
        raise InvalidMovement(
            f"Shipment #{shipment.pk} goes to warehouse {shipment.reference_line}, not to {destination}."
        )
    arrived = shipment_arrived_quantity(shipment)
    open_quantity = shipment.quantity - arrived
    quantity = open_quantity if quantity is None else _quantity(quantity)
    if quantity <= 0 or quantity > open_quantity:
        raise InvalidMovement(
            f"Shipment #{shipment.pk} has {_fmt(open_quantity)} still in transit; cannot arrive {_fmt(quantity)}."
        )
    total_cost = None
    if quantity == open_quantity:  # the last arrival carries exactly what is left of the value
        arrived_value = sum((m.total_cost for m in _shipment_arrivals(shipment)), ZERO)
        total_cost = shipment.total_cost - arrived_value
        unit_cost = total_cost / quantity
    else:
        unit_cost = shipment.unit_cost
    line = MovementLine(
        item=shipment.item,
        quantity=quantity,
        source=transit,
        destination=destination,
        kind=MovementKind.TRANSFER,
        lot=shipment.lot,
        unit_cost=unit_cost.quantize(MONEY_STEP),
        total_cost=total_cost,
        note=note,
        reference_type="stock.shipment-arrival",
        reference_id=str(shipment.pk),
    )
    return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


@transaction.atomic
def movement_reverse(
    *,
    movement: Movement,
    actor,
    reason: str,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> Movement:
    """Undo a movement with its mirror image: same item, lot and quantity from its destination
    back to its source. The cost: what the original took out goes back at the original cost;
    what it brought in comes out of its own FIFO layer, or at the current average under moving
    average (``_reverse_incoming``). A movement is reversed at most once; a reversal is not
    reversed (post the movement again instead)."""
    reason = _require_reason(reason, "reversal")
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous[0]
    original = (
        Movement.objects.select_for_update(of=("self",))
        .select_related("item", "lot", "source__warehouse", "destination__warehouse")
        .get(pk=movement.pk)
    )
    if original.kind == MovementKind.REVERSAL:
        raise InvalidMovement(f"Movement #{original.pk} is itself a reversal; post the movement again instead.")
    if Movement.objects.filter(reverses=original).exists():
        raise AlreadyReversed(f"Movement #{original.pk} has already been reversed.")
    if original.reference_type == "stock.shipment" and shipment_arrived_quantity(original) > 0:
        raise InvalidMovement(f"Shipment #{original.pk} has arrivals; reverse those first.")
    line = MovementLine(
        item=original.item,
        quantity=original.quantity,
        source=original.destination,
        destination=original.source,
        kind=MovementKind.REVERSAL,
        lot=original.lot,
        reason_code=original.reason_code,
        note=reason,
        reference_type=original.reference_type,
        reference_id=original.reference_id,
        reference_line=original.reference_line,
        reverses=original,
    )
    return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))

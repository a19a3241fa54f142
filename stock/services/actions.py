"""The single business actions (receive, issue, scrap, return, adjust, transfer, ship,
arrive, reverse). Each is a thin wrapper: a ``StockRequest`` posted by ``batches.requests_post``,
or, for the actions a request cannot express (shipment arrivals, reversals), one
``MovementLine`` posted by ``movement_post``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet

from catalog.models import Item, Location, LocationKind, Warehouse
from common.actors import Actor

from ..models import (
    MONEY_STEP,
    ZERO,
    Lot,
    Movement,
    MovementKind,
)
from .batches import StockRequest, requests_post
from .errors import AlreadyReversed, InvalidMovement, _fmt
from .lines import MovementLine, _quantity, _require_reason, _virtual, reversal_line
from .posting import movement_post, movements_for_key
from .revaluation import value_entry_reverse


def _one(movements: list[Movement]) -> Movement:
    return movements[0]


def stock_receive(
    *,
    item: Item,
    location: Location,
    quantity: Decimal,
    actor: Actor | None,
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
    (default: the item's standard cost); a new lot is received on ``occurred_at``'s date."""
    request = StockRequest(
        kind=MovementKind.RECEIPT,
        item=item,
        quantity=quantity,
        destination=location,
        lot=lot,
        expiry_date=expiry_date,
        unit_cost=unit_cost,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
    )
    return _one(requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def stock_issue(
    *,
    item: Item,
    quantity: Decimal,
    actor: Actor | None,
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
    request = StockRequest(
        kind=MovementKind.ISSUE,
        item=item,
        quantity=quantity,
        source=location,
        warehouse=warehouse,
        lot=lot,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
        pick=True,
    )
    return requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)


def stock_scrap(
    *,
    item: Item,
    quantity: Decimal,
    location: Location,
    reason_code: str,
    actor: Actor | None,
    lot: Lot | str | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
) -> list[Movement]:
    """Move damaged or expired stock to the scrap location (reason required; FEFO within the
    location's subtree when the place is not exact)."""
    request = StockRequest(
        kind=MovementKind.SCRAP,
        item=item,
        quantity=quantity,
        source=location,
        lot=lot,
        reason_code=reason_code,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
        pick=True,
    )
    return requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)


def stock_supplier_return(
    *,
    item: Item,
    quantity: Decimal,
    location: Location,
    actor: Actor | None,
    lot: Lot | str | None = None,
    reason_code: str = "",
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    note: str = "",
    returns: Movement | None = None,
) -> list[Movement]:
    """Send stock back to the supplier: costed like an issue, or, naming the receipt it
    ``returns``, at that receipt's own cost (docs/ledger.md, "Valuation")."""
    request = StockRequest(
        kind=MovementKind.SUPPLIER_RETURN,
        item=item,
        quantity=quantity,
        source=location,
        lot=lot,
        reason_code=reason_code,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
        pick=True,
        origin=returns,
    )
    return requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)


def stock_customer_return(
    *,
    item: Item,
    quantity: Decimal,
    location: Location,
    actor: Actor | None,
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
    returns: Movement | None = None,
) -> Movement:
    """Take back stock a customer returned, at ``unit_cost`` (default: the current cost), or,
    naming the issue it ``returns``, at that issue's own (corrected) cost."""
    request = StockRequest(
        kind=MovementKind.CUSTOMER_RETURN,
        item=item,
        quantity=quantity,
        destination=location,
        lot=lot,
        expiry_date=expiry_date,
        unit_cost=unit_cost,
        reason_code=reason_code,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
        origin=returns,
    )
    return _one(requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def stock_adjust(
    *,
    item: Item,
    location: Location,
    quantity_delta: Decimal,
    reason_code: str,
    actor: Actor | None,
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
    request = StockRequest(
        kind=MovementKind.ADJUSTMENT,
        item=item,
        quantity=quantity_delta,
        destination=location,
        lot=lot,
        expiry_date=expiry_date,
        unit_cost=unit_cost,
        reason_code=reason_code,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
        rounds_off=True,  # may round an old level finer than the unit off
    )
    return _one(requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def stock_transfer(
    *,
    item: Item,
    quantity: Decimal,
    source: Location,
    destination: Location,
    actor: Actor | None,
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
    request = StockRequest(
        kind=MovementKind.TRANSFER,
        item=item,
        quantity=quantity,
        source=source,
        destination=destination,
        lot=lot,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
    )
    return _one(requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def transfer_ship(
    *,
    item: Item,
    quantity: Decimal,
    source: Location,
    to_warehouse: Warehouse,
    actor: Actor | None,
    lot: Lot | str | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    note: str = "",
    reference_id: str = "",
) -> Movement:
    """Ship stock towards another warehouse: it leaves ``source`` (and its warehouse's value)
    for the in-transit location until ``transfer_arrive``."""
    request = StockRequest(
        kind=MovementKind.TRANSFER,
        item=item,
        quantity=quantity,
        source=source,
        to_warehouse=to_warehouse,
        lot=lot,
        reference_id=reference_id,
        note=note,
    )
    return _one(requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


def _shipment_arrivals(shipment: Movement) -> QuerySet[Movement]:
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
    actor: Actor | None,
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
    if not destination.is_internal or destination.home_warehouse.code != shipment.reference_line:
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
    actor: Actor | None,
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
    if original.quantity == 0:  # a value-only entry
        return value_entry_reverse(original=original, actor=actor, reason=reason, occurred_at=occurred_at)
    if original.kind == MovementKind.REVERSAL:
        raise InvalidMovement(f"Movement #{original.pk} is itself a reversal; post the movement again instead.")
    if Movement.objects.filter(reverses=original).exists():
        raise AlreadyReversed(f"Movement #{original.pk} has already been reversed.")
    named_by = list(
        Movement.objects.filter(origin=original, reversed_by__isnull=True)
        .exclude(kind__in=[MovementKind.COST_CORRECTION, MovementKind.REVERSAL])
        .values_list("pk", flat=True)
    )
    if named_by:
        listed = ", ".join(f"#{pk}" for pk in named_by)
        raise InvalidMovement(
            f"Movement #{original.pk} has returns or value entries naming it ({listed}); reverse those first."
        )
    if original.reference_type == "stock.shipment" and shipment_arrived_quantity(original) > 0:
        raise InvalidMovement(f"Shipment #{original.pk} has arrivals; reverse those first.")
    line = reversal_line(original, reason)
    return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))

"""The single business actions (receive, issue, scrap, return, adjust, transfer, ship,
arrive, reverse). Each is a thin wrapper: one ``StockRequest`` posted by
``batches.requests_post``, the one request builder and posting path."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from catalog.models import Item, Location, Warehouse
from common.actors import Actor

from ..models import Lot, Movement, MovementKind
from .batches import StockRequest, requests_post


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
    """Receive (part of) a shipment at ``destination`` (all still in transit when ``quantity``
    is None), at the cost it left with. The shipment row is locked first, so two arrivals cannot
    exceed what was shipped (``documents.arrival_line``)."""
    request = StockRequest(
        kind=MovementKind.TRANSFER,
        item=shipment.item,
        quantity=quantity,
        destination=destination,
        shipment=shipment,
        note=note,
    )
    return _one(requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


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
    what it brought in comes out of its own FIFO layer, or at its own unit cost under moving
    average (docs/ledger.md, "Own cost back"). A movement is reversed at most once; a reversal
    is not reversed (post the movement again instead). The movement's row is locked first
    (``documents.reversible_check``); a value-only entry is undone by ``value_entry_reverse``."""
    request = StockRequest(
        kind=MovementKind.REVERSAL,
        item=movement.item,
        quantity=movement.quantity,
        reverses=movement,
        reason_code=reason,
    )
    return _one(requests_post([request], actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))

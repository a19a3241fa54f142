"""Business actions as requests: ``StockRequest`` is one action before its ledger lines are
known, ``_request_line`` the one builder of its line, the FEFO planner picks where the place is
not exact, and ``requests_post`` posts them as ONE ``movement_post`` batch. ``stock_post_batch``
(API sales, returns, bulk movements) and the single actions of ``actions`` all go through it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, Tracking, Warehouse
from catalog.permissions import WarehouseAction, warehouse_require

from ..models import (
    Lot,
    Movement,
    MovementKind,
)
from .errors import InsufficientStock, InvalidMovement, _fmt
from .lines import LevelKey, MovementLine, _occurred_at, _quantity, _require_reason, _virtual
from .lots import _existing_lot, _resolve_lot
from .picking import FEFO_RETRIES
from .posting import movement_post, movements_for_key


@dataclass(frozen=True)
class StockRequest:
    """One business action of a batch for ``stock_post_batch``: a sale or return line, or one
    movement of a bulk request, before its ledger lines are known.

    ``kind``: receipt (into ``destination``; ``unit_cost`` defaults to the item's standard cost;
    ``lot`` is created if new, with ``expiry_date``), issue (from ``source``), transfer (``source``
    to ``destination``, both internal), scrap (from ``source``, reason required), adjustment
    (signed ``quantity`` at ``destination`` or ``source``, reason required) or customer_return
    (into ``destination``, else into the bin of ``warehouse`` the item was last issued from).
    With ``pick`` (issues only), a missing ``source`` (take from ``warehouse``) or missing lot is
    chosen by FEFO, possibly over several bins and lots."""

    kind: str
    item: Item
    quantity: Decimal
    source: Location | None = None
    destination: Location | None = None
    warehouse: Warehouse | None = None
    lot: Lot | str | None = None
    expiry_date: date | None = None
    unit_cost: Decimal | None = None
    reason_code: str = ""
    note: str = ""
    reference_type: str = ""
    reference_id: str = ""
    reference_line: str = ""
    pick: bool = False


def _request_warehouses(request: StockRequest) -> list[Warehouse]:
    places = [request.warehouse] + [loc.warehouse for loc in (request.source, request.destination) if loc is not None]
    return [warehouse for warehouse in places if warehouse is not None]


def _return_location(request: StockRequest) -> Location:
    """Where a customer return without a location goes: the bin of the warehouse the item was
    last issued from (still active)."""
    if request.warehouse is None:
        raise InvalidMovement(f"Say where the returned {request.item.sku} goes: a warehouse or a location.")
    location = (
        Location.objects.filter(
            outgoing_movements__item=request.item,
            outgoing_movements__kind=MovementKind.ISSUE,
            warehouse=request.warehouse,
            active=True,
        )
        .select_related("warehouse")
        .order_by("-outgoing_movements__id")
        .first()
    )
    if location is None:
        raise InvalidMovement(
            f"{request.item.sku} was never issued from warehouse {request.warehouse.code}: say which location "
            "the return goes to."
        )
    return location


def _request_line(request: StockRequest, when: datetime) -> MovementLine:
    """The one ledger line of a request that needs no FEFO pick."""
    kind, item = request.kind, request.item
    common = {
        "item": item,
        "kind": kind,
        "note": request.note,
        "reference_type": request.reference_type,
        "reference_id": request.reference_id,
        "reference_line": request.reference_line,
    }

    def need(location: Location | None, side: str) -> Location:
        if location is None:
            raise InvalidMovement(f"A {MovementKind(kind).label.lower()} of {item.sku} needs its {side} location.")
        return location

    if kind == MovementKind.RECEIPT:
        return MovementLine(
            quantity=request.quantity,
            source=_virtual(LocationKind.SUPPLIER),
            destination=need(request.destination, "destination"),
            lot=_resolve_lot(item, request.lot, request.expiry_date, received_on=timezone.localdate(when)),
            unit_cost=item.standard_cost if request.unit_cost is None else request.unit_cost,
            **common,
        )
    if kind == MovementKind.ISSUE:
        return MovementLine(
            quantity=request.quantity,
            source=need(request.source, "source"),
            destination=_virtual(LocationKind.CUSTOMER),
            lot=_existing_lot(item, request.lot),
            **common,
        )
    if kind == MovementKind.TRANSFER:
        source, destination = need(request.source, "source"), need(request.destination, "destination")
        if not (source.is_internal and destination.is_internal):
            raise InvalidMovement("A transfer goes between two internal locations; use ship/arrive for transit.")
        return MovementLine(
            quantity=request.quantity,
            source=source,
            destination=destination,
            lot=_existing_lot(item, request.lot),
            **common,
        )
    if kind == MovementKind.SCRAP:
        return MovementLine(
            quantity=request.quantity,
            source=need(request.source, "source"),
            destination=_virtual(LocationKind.SCRAP),
            lot=_existing_lot(item, request.lot),
            reason_code=_require_reason(request.reason_code, "scrap"),
            **common,
        )
    if kind == MovementKind.ADJUSTMENT:
        location = need(request.destination or request.source, "adjusted")
        reason_code = _require_reason(request.reason_code, "stock adjustment")
        delta = _quantity(request.quantity, "quantity change")
        if delta == 0:
            raise InvalidMovement("An adjustment of zero changes nothing.")
        adjustment = _virtual(LocationKind.INVENTORY_ADJUSTMENT)
        gain = delta > 0
        return MovementLine(
            quantity=abs(delta),
            source=adjustment if gain else location,
            destination=location if gain else adjustment,
            lot=_resolve_lot(item, request.lot, request.expiry_date) if gain else _existing_lot(item, request.lot),
            unit_cost=request.unit_cost if gain else None,
            reason_code=reason_code,
            **common,
        )
    if kind == MovementKind.CUSTOMER_RETURN:
        return MovementLine(
            quantity=request.quantity,
            source=_virtual(LocationKind.CUSTOMER),
            destination=request.destination or _return_location(request),
            lot=_resolve_lot(item, request.lot, request.expiry_date),
            unit_cost=request.unit_cost,
            reason_code=request.reason_code,
            **common,
        )
    raise InvalidMovement(f"A {kind!r} cannot be requested in a batch.")


def _request_picks(request: StockRequest, lot: Lot | None, taken: dict[LevelKey, Decimal]) -> list[MovementLine]:
    """FEFO lines for an issue request, leaving out what earlier lines of the batch planned to
    take (``taken``, updated), so two lines of one item do not count the same stock twice."""
    from ..selectors import stock_levels_available_fefo

    quantity = _quantity(request.quantity)
    if quantity <= 0:
        raise InvalidMovement(f"The quantity must be greater than zero (got {_fmt(quantity)}).")
    if request.source is None and request.warehouse is None:
        raise InvalidMovement("Say where to take the stock from: a warehouse or a location.")
    lines, need = [], quantity
    candidates = stock_levels_available_fefo(
        item=request.item, warehouse=request.warehouse, location=request.source, lot=lot
    )
    for level in candidates:
        if need <= 0:
            break
        key = (request.item.pk, level.location_id, level.lot_id)
        take = min(need, level.available - taken[key])
        if take <= 0:
            continue
        taken[key] += take
        need -= take
        lines.append(
            MovementLine(
                item=request.item,
                quantity=take,
                source=level.location,
                destination=_virtual(LocationKind.CUSTOMER),
                kind=MovementKind.ISSUE,
                lot=level.lot,
                note=request.note,
                reference_type=request.reference_type,
                reference_id=request.reference_id,
                reference_line=request.reference_line,
            )
        )
    if need > 0:
        raise InsufficientStock(
            item=request.item,
            location=request.source or request.warehouse,
            lot=lot,
            asked=quantity,
            available=quantity - need,
        )
    return lines


@transaction.atomic
def stock_post_batch(
    *,
    requests: Sequence[StockRequest],
    actor: AbstractBaseUser | None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Movement]:
    """Post several business actions (the lines of a sale, a customer return or a bulk movement
    request) as ONE ``movement_post`` batch: all of them or none, with one round of locks in the
    module's fixed order. Movements come back in request order (a picked request may become
    several movements).

    The actor's permission is checked for every warehouse named before any stock is read:
    "adjust" for adjustments, "post" for the rest (and ``stock.add_movement``). FEFO picks are
    planned without locks and checked under lock by ``movement_post``; if a concurrent posting
    took the stock meanwhile, the whole batch is planned again (at most ``FEFO_RETRIES`` times).
    The same idempotency key returns the first posting's movements."""
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous
    if not requests:
        raise InvalidMovement("Nothing to post: no lines.")
    for action in (WarehouseAction.POST, WarehouseAction.ADJUST):
        warehouses = [
            warehouse
            for request in requests
            if (request.kind == MovementKind.ADJUSTMENT) == (action == WarehouseAction.ADJUST)
            for warehouse in _request_warehouses(request)
        ]
        if warehouses or action == WarehouseAction.POST:
            warehouse_require(actor, warehouses, action, model_perm="stock.add_movement")
    when = _occurred_at(occurred_at)
    # Lines without a pick are built once (a receipt's new lot is created once); picks per attempt.
    fixed: list[MovementLine | tuple[StockRequest, Lot | None]] = []
    for request in requests:
        if request.pick and request.kind == MovementKind.ISSUE:
            lot = _existing_lot(request.item, request.lot)
            exact = (
                request.source is not None
                and (request.item.tracking == Tracking.NONE or lot is not None)
                and not request.source.children.exists()
            )
            if not exact:
                fixed.append((request, lot))
                continue
        fixed.append(_request_line(request, when))
    has_picks = any(isinstance(entry, tuple) for entry in fixed)
    for attempt in range(FEFO_RETRIES):
        taken: dict[LevelKey, Decimal] = defaultdict(Decimal)
        lines: list[MovementLine] = []
        for entry in fixed:
            if isinstance(entry, MovementLine):
                lines.append(entry)
            else:
                lines.extend(_request_picks(entry[0], entry[1], taken))
        try:
            return movement_post(lines=lines, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)
        except InsufficientStock:
            if not has_picks or attempt == FEFO_RETRIES - 1:
                raise
    raise AssertionError("unreachable")

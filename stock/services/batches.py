"""Business actions as requests: ``StockRequest`` is one action before its ledger lines are
known, ``_request_line`` the one builder of its line (``lots.receipt_line`` for receipts),
``picking.fefo_plan`` picks where the place is not exact, and ``requests_post`` posts them as
ONE ``movement_post`` batch. ``stock_post_batch`` (API sales, returns, bulk movements) and the
single actions of ``actions`` (reversals and shipment arrivals too, whose document row
``requests_post`` locks first: ``documents``) all go through ``requests_post``: one builder, one
planner, one permission check, one idempotency look-up."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from catalog.models import Item, Location, LocationKind, Tracking, Warehouse
from catalog.permissions import WarehouseAction, warehouse_require
from catalog.units import quantity_problem
from common.actors import Actor

from ..models import Lot, Movement, MovementKind, StockLevel
from ..selectors import SHIPMENT_REFERENCE
from .documents import arrival_line, document_lock, reversible_check
from .errors import InvalidMovement, QuantityFinerThanUnit, StockError, _fmt
from .lines import (
    AvailableAfter,
    LevelKey,
    MovementLine,
    _occurred_at,
    _quantity,
    _require_reason,
    _virtual,
    _warehouse_action,
    reversal_line,
)
from .lots import _existing_lot, _resolve_lot, receipt_date, receipt_line
from .picking import fefo_plan, fefo_retry
from .posting import _post_movements, movements_for_key
from .revaluation import value_entry_reverse

# The kinds that take stock out to a virtual location, and where to: the ones a FEFO pick serves.
OUTGOING: dict[str, str] = {
    MovementKind.ISSUE: LocationKind.CUSTOMER,
    MovementKind.SCRAP: LocationKind.SCRAP,
    MovementKind.SUPPLIER_RETURN: LocationKind.SUPPLIER,
}
# The kinds that may bring a new lot into being (so the request writes before it posts).
INCOMING = (MovementKind.RECEIPT, MovementKind.CUSTOMER_RETURN, MovementKind.ADJUSTMENT)


@dataclass(frozen=True)
class StockRequest:
    """One business action of a batch for ``stock_post_batch``: a sale or return line, or one
    movement of a bulk request, before its ledger lines are known.

    ``kind``: receipt (into ``destination``; ``unit_cost`` defaults to the item's standard cost;
    ``lot`` is created if new, with ``expiry_date``), issue (from ``source``), transfer
    (``source`` to ``destination``, both internal; with ``to_warehouse`` instead of
    ``destination``, a shipment to the in-transit location; with ``shipment`` instead of
    ``source``, the arrival of that shipment at ``destination``, ``quantity`` None for all still
    in transit), scrap (from ``source``, reason required), supplier_return (from ``source``),
    adjustment (signed ``quantity`` at ``destination`` or ``source``, reason required),
    customer_return (into ``destination``, else into the bin of ``warehouse`` the item was last
    issued from) or reversal (of the whole movement ``reverses``, ``quantity`` its quantity;
    ``reason_code`` says why, required, and becomes the reversal's note). A request naming a
    document row (``reverses``, ``shipment``) is posted on its own. With
    ``pick`` (issues, scrap and supplier returns), a missing ``source`` (take from
    ``warehouse``), a missing lot or a ``source`` with sub-locations is chosen by FEFO, possibly
    over several bins and lots. A new lot (receipts, returns, gains) is received on the posting's
    date (``occurred_at``). ``rounds_off`` (``stock_adjust`` and floor adjustments) lets an
    adjustment finer than the item's unit through when it brings an old finer level to a
    countable one (``_rounds_off``)."""

    kind: str
    item: Item
    quantity: Decimal | None  # None only for an arrival: all that is still in transit
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
    to_warehouse: Warehouse | None = None
    rounds_off: bool = False
    origin: Movement | None = None  # supplier return: its receipt; customer return: its issue
    reverses: Movement | None = None  # reversal: the movement it undoes
    shipment: Movement | None = None  # arrival (a transfer): the shipment arriving


def _request_warehouses(request: StockRequest) -> list[Warehouse]:
    """The warehouses a request names; a reversal's are those of the movement it undoes."""
    sides = (request.source, request.destination)
    if request.reverses is not None:
        sides = (request.reverses.source, request.reverses.destination)
    places = [request.warehouse] + [loc.warehouse for loc in sides if loc is not None]
    return [warehouse for warehouse in places if warehouse is not None]


def _authorize_requests(actor: Actor | None, requests: Sequence[StockRequest]) -> None:
    """Refuse, before any stock is read, unless ``actor`` may post movements
    (``stock.add_movement``) and do each request's action in every warehouse it names:
    "adjust" for adjustments and reversals, "post" for the rest (``lines._warehouse_action``).
    This covers every line the requests become (picks stay in the named warehouse or the
    source's subtree), so the posting does not ask again."""
    for action in (WarehouseAction.POST, WarehouseAction.ADJUST):
        warehouses = [
            warehouse
            for request in requests
            if _warehouse_action(request.kind) == action
            for warehouse in _request_warehouses(request)
        ]
        if warehouses or action == WarehouseAction.POST:
            warehouse_require(actor, warehouses, action, model_perm="stock.add_movement")


def _authorized(actor: Actor | None, lines: Sequence[MovementLine]) -> None:
    """The posting's permission check, already done by ``_authorize_requests``."""


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


def _reason(request: StockRequest) -> str:
    """The request's reason code; scrap, adjustments and reversals must give one."""
    if request.kind == MovementKind.REVERSAL:
        return _require_reason(request.reason_code, "reversal")
    if request.kind == MovementKind.SCRAP:
        return _require_reason(request.reason_code, "scrap")
    if request.kind == MovementKind.ADJUSTMENT:
        return _require_reason(request.reason_code, "stock adjustment")
    return request.reason_code


def _request_line(request: StockRequest, when: datetime) -> MovementLine:
    """The one ledger line of a request that needs no FEFO pick. A request naming a document
    row (a reversal, an arrival) is built from that row as ``requests_post`` locked it."""
    kind, item = request.kind, request.item
    if request.reverses is not None or request.shipment is not None or kind == MovementKind.REVERSAL:
        return _document_line(request)
    if request.quantity is None:
        raise InvalidMovement(f"A {MovementKind(kind).label.lower()} of {item.sku} needs a quantity.")
    quantity = request.quantity

    def need(location: Location | None, side: str) -> Location:
        if location is None:
            raise InvalidMovement(f"A {MovementKind(kind).label.lower()} of {item.sku} needs its {side} location.")
        return location

    if kind == MovementKind.RECEIPT:
        return receipt_line(
            item=item,
            quantity=quantity,
            destination=need(request.destination, "destination"),
            occurred_at=when,
            lot=request.lot,
            expiry_date=request.expiry_date,
            unit_cost=request.unit_cost,
            note=request.note,
            reference_type=request.reference_type,
            reference_id=request.reference_id,
            reference_line=request.reference_line,
        )
    if kind in OUTGOING:
        reason_code = _reason(request)
        return _line(
            request,
            quantity=quantity,
            source=need(request.source, "source"),
            destination=_virtual(OUTGOING[kind]),
            lot=_existing_lot(item, request.lot),
            reason_code=reason_code,
            origin=request.origin,
        )
    if kind == MovementKind.TRANSFER and request.destination is None and request.to_warehouse is not None:
        return _shipment_line(request, need(request.source, "source"), quantity)
    if kind == MovementKind.TRANSFER:
        source, destination = need(request.source, "source"), need(request.destination, "destination")
        if not (source.is_internal and destination.is_internal):
            raise InvalidMovement("A transfer goes between two internal locations; use ship/arrive for transit.")
        return _line(
            request,
            quantity=quantity,
            source=source,
            destination=destination,
            lot=_existing_lot(item, request.lot),
        )
    if kind == MovementKind.ADJUSTMENT:
        location = need(request.destination or request.source, "adjusted")
        reason_code = _reason(request)
        delta = _quantity(quantity, "quantity change")
        if delta == 0:
            raise InvalidMovement("An adjustment of zero changes nothing.")
        adjustment = _virtual(LocationKind.INVENTORY_ADJUSTMENT)
        gain = delta > 0
        lot = (
            _resolve_lot(item, request.lot, request.expiry_date, received_on=receipt_date(when))
            if gain
            else _existing_lot(item, request.lot)
        )
        return _line(
            request,
            quantity=abs(delta),
            source=adjustment if gain else location,
            destination=location if gain else adjustment,
            lot=lot,
            unit_cost=request.unit_cost if gain else None,
            reason_code=reason_code,
            rounds_off=request.rounds_off and _rounds_off(item, location, lot, delta),
        )
    if kind == MovementKind.CUSTOMER_RETURN:
        return _line(
            request,
            quantity=quantity,
            source=_virtual(LocationKind.CUSTOMER),
            destination=request.destination or _return_location(request),
            lot=_resolve_lot(item, request.lot, request.expiry_date, received_on=receipt_date(when)),
            unit_cost=request.unit_cost,
            reason_code=request.reason_code,
            origin=request.origin,
        )
    raise InvalidMovement(f"A {kind!r} cannot be requested in a batch.")


def _line(
    request: StockRequest,
    *,
    quantity: Decimal,
    source: Location,
    destination: Location,
    lot: Lot | None,
    unit_cost: Decimal | None = None,
    reason_code: str = "",
    rounds_off: bool = False,
    origin: Movement | None = None,
) -> MovementLine:
    """A line of ``request``: its item, kind, note and reference, with the given movement (the
    one line of ``_request_line``, or one place of a FEFO pick)."""
    return MovementLine(
        item=request.item,
        kind=request.kind,
        quantity=quantity,
        source=source,
        destination=destination,
        lot=lot,
        unit_cost=unit_cost,
        reason_code=reason_code,
        rounds_off=rounds_off,
        origin=origin,
        note=request.note,
        reference_type=request.reference_type,
        reference_id=request.reference_id,
        reference_line=request.reference_line,
    )


def _document_line(request: StockRequest) -> MovementLine:
    """The line of a reversal (``reverses``) or an arrival (``shipment``), from the document row
    that ``requests_post`` locked (``_document_locked``); the rules are ``documents``'."""
    kind, item, reverses, shipment = request.kind, request.item, request.reverses, request.shipment
    if kind == MovementKind.REVERSAL and reverses is not None and shipment is None:
        document = reverses
    elif kind == MovementKind.TRANSFER and shipment is not None and reverses is None:
        document = shipment
    else:
        raise InvalidMovement(
            "A reversal names the movement it reverses, an arrival (a transfer) the shipment that arrives."
        )
    if document.item_id != item.pk:
        raise InvalidMovement(f"Movement #{document.pk} is not of {item.sku}.")
    if document is reverses:
        if request.quantity is not None and request.quantity != document.quantity:
            raise InvalidMovement(f"A reversal undoes all of movement #{document.pk} ({_fmt(document.quantity)}).")
        reason = _reason(request)
        reversible_check(document)
        return reversal_line(document, reason)
    if request.destination is None:
        raise InvalidMovement(f"Say where shipment #{document.pk} arrives: a location.")
    return arrival_line(document, destination=request.destination, quantity=request.quantity, note=request.note)


def _document_locked(request: StockRequest) -> StockRequest:
    """The request with its document row (the movement reversed, the shipment arriving) read
    afresh under lock: step 1 of the lock order, before any level (``documents.document_lock``)."""
    if request.reverses is not None:
        return replace(request, reverses=document_lock(request.reverses))
    if request.shipment is not None:
        return replace(request, shipment=document_lock(request.shipment))
    return request


def _shipment_line(request: StockRequest, source: Location, quantity: Decimal) -> MovementLine:
    """A transfer towards ``request.to_warehouse``: to the in-transit location, referenced as
    a shipment that ``transfer_arrive`` receives."""
    to_warehouse = request.to_warehouse
    assert to_warehouse is not None
    if source.warehouse_id == to_warehouse.pk:
        raise InvalidMovement("Within one warehouse, transfer directly instead of shipping.")
    return MovementLine(
        item=request.item,
        quantity=quantity,
        source=source,
        destination=_virtual(LocationKind.TRANSIT),
        kind=MovementKind.TRANSFER,
        lot=_existing_lot(request.item, request.lot),
        note=request.note,
        reference_type=SHIPMENT_REFERENCE,
        reference_id=request.reference_id or f"{source.home_warehouse.code}>{to_warehouse.code}",
        reference_line=to_warehouse.code,
    )


def _rounds_off(item: Item, location: Location, lot: Lot | None, delta: Decimal) -> bool:
    """True when ``delta`` is finer than the item's unit but brings a level that is finer too
    (old data: 2.5 each) to a countable one (2 or 3): the only finer quantity an adjustment may
    post. Read before the posting locks the level: a concurrent change leaves at worst a level
    still finer than its unit, which the data-quality page and ``reconcile`` keep listing."""
    if quantity_problem(item, delta) is None:
        return False
    on_hand = StockLevel.objects.filter(item=item, location=location, lot=lot).values_list("on_hand", flat=True).first()
    return (
        on_hand is not None
        and quantity_problem(item, on_hand) is not None
        and quantity_problem(item, on_hand + delta) is None
    )


@dataclass(frozen=True)
class _Pick:
    """A request whose place is chosen by FEFO at each attempt (``lot`` resolved once)."""

    request: StockRequest
    lot: Lot | None
    reason_code: str


def _pick_or_line(request: StockRequest, when: datetime) -> MovementLine | _Pick:
    """The request's line when its place is exact (a source without sub-locations, and the lot
    if the item is tracked); otherwise a ``_Pick`` to plan at each attempt."""
    if not (request.pick and request.kind in OUTGOING):
        return _request_line(request, when)
    quantity = _quantity(request.quantity)
    if quantity > 0 and (problem := quantity_problem(request.item, quantity)):  # named before any plan
        raise QuantityFinerThanUnit(problem)
    lot = _existing_lot(request.item, request.lot)
    exact = (
        request.source is not None
        and (request.item.tracking == Tracking.NONE or lot is not None)
        and not request.source.children.exists()
    )
    if exact:
        return _request_line(request, when)
    return _Pick(request, lot, _reason(request))


def _pick_lines(pick: _Pick, taken: dict[LevelKey, Decimal]) -> list[MovementLine]:
    """FEFO lines for a pick, leaving out what earlier lines of the batch planned (``taken``)."""
    request = pick.request
    quantity = _quantity(request.quantity)
    if quantity <= 0:
        raise InvalidMovement(f"The quantity must be greater than zero (got {_fmt(quantity)}).")
    if request.source is None and request.warehouse is None:
        raise InvalidMovement("Say where to take the stock from: a warehouse or a location.")
    plan = fefo_plan(
        item=request.item,
        quantity=quantity,
        warehouse=request.warehouse,
        location=request.source,
        lot=pick.lot,
        taken=taken,
    )
    destination = _virtual(OUTGOING[request.kind])
    return [
        _line(
            request,
            quantity=take,
            source=location,
            destination=destination,
            lot=lot,
            reason_code=pick.reason_code,
            origin=request.origin,
        )
        for location, lot, take in plan
    ]


def requests_post(
    requests: Sequence[StockRequest],
    *,
    actor: Actor | None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    fresh_key: bool = False,
    available_after: AvailableAfter | None = None,
) -> list[Movement]:
    """The one posting path of business actions: the idempotency look-up, the permission
    check (``_authorize_requests``, before any stock is read), each request's line built once
    (``_request_line``; a receipt's new lot is created once), FEFO picks planned at each attempt
    and the whole batch posted by ONE ``movement_post`` (``_post_movements``). If a concurrent
    posting took picked stock meanwhile, the batch is planned again (``fefo_retry``). The same
    idempotency key returns the first posting's movements, also when retries race
    (``movement_post`` answers those; a refusal before the posting, such as a plan without stock
    or a document already reversed or arrived, looks the key up then). Runs in a transaction of
    its own when building the lines writes (a new lot) or locks (a document row); otherwise the
    posting's own is enough.

    A request naming a document row (a reversal, an arrival) is posted on its own: its row is
    locked first (step 1 of the lock order) and read afresh, and its line built from it. A
    reversal of a value-only entry (quantity 0) changes no level: after the same look-up,
    permission check and lock it is posted by ``revaluation.value_entry_reverse``, the writer of
    value-only entries (docs/ledger.md, "Reversals and arrivals").

    ``fresh_key=True`` is the caller's word that it answers repeated keys itself (the API keeps
    its answer under the key at the end of this transaction and, if the key is taken, rolls
    back and replays the first answer: common/api/idempotency.py): the look-up is skipped.
    Should a posting exist under the key (a retry, or a key whose store row was purged), the
    movement's unique key refuses the new posting and ``movement_post`` answers with the first
    one's movements, as for racing retries; a plan refused for want of stock looks the key up
    then. ``available_after``: filled where the posting reads what is available after it in its
    own statement (``function._post_line_in_database``)."""
    if idempotency_key and not fresh_key and (previous := movements_for_key(idempotency_key)):
        return previous
    if not requests:
        raise InvalidMovement("Nothing to post: no lines.")
    documents = any(request.reverses is not None or request.shipment is not None for request in requests)
    if documents and len(requests) > 1:
        raise InvalidMovement("A reversal or an arrival is posted on its own, not in a batch.")
    _authorize_requests(actor, requests)
    when = _occurred_at(
        occurred_at, actor=actor, warehouses=[w for r in requests for w in _request_warehouses(r) if w is not None]
    )
    writes = documents or any(request.kind in INCOMING and isinstance(request.lot, str) for request in requests)
    try:
        with transaction.atomic() if writes else nullcontext():
            return _requests_post(
                requests,
                actor=actor,
                idempotency_key=idempotency_key,
                occurred_at=occurred_at,
                when=when,
                available_after=available_after,
            )
    except StockError:  # refused before the unique key could answer: a racing retry may have posted
        if idempotency_key and (previous := movements_for_key(idempotency_key)):
            return previous
        raise


def _requests_post(
    requests: Sequence[StockRequest],
    *,
    actor: Actor | None,
    idempotency_key: str | None,
    occurred_at: datetime | None,
    when: datetime,
    available_after: AvailableAfter | None,
) -> list[Movement]:
    """``requests_post``'s body, in its transaction: document rows locked, lines built, posted."""
    requests = [_document_locked(request) for request in requests]
    first, original = requests[0], requests[0].reverses
    if first.kind == MovementKind.REVERSAL and original is not None and original.quantity == 0:  # a value-only entry
        reversal = value_entry_reverse(
            original=original,
            actor=actor,
            reason=_reason(first),
            idempotency_key=idempotency_key,
            occurred_at=occurred_at,
        )
        return [reversal]
    entries = [_pick_or_line(request, when) for request in requests]

    def attempt() -> list[Movement]:
        taken: dict[LevelKey, Decimal] = {}
        lines: list[MovementLine] = []
        for entry in entries:
            if isinstance(entry, MovementLine):
                lines.append(entry)
            else:
                lines.extend(_pick_lines(entry, taken))
        return _post_movements(
            lines,
            actor=actor,
            idempotency_key=idempotency_key,
            occurred_at=occurred_at,
            authorize=_authorized,
            available_after=available_after,
        )

    return fefo_retry(attempt, replans=any(isinstance(entry, _Pick) for entry in entries))


def stock_post_batch(
    *,
    requests: Sequence[StockRequest],
    actor: Actor | None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    fresh_key: bool = False,
    available_after: AvailableAfter | None = None,
) -> list[Movement]:
    """Post several business actions (the lines of a sale, a customer return or a bulk movement
    request) as ONE ``movement_post`` batch: all of them or none, with one round of locks in the
    package's fixed order. Movements come back in request order (a picked request may become
    several movements).

    The actor's permission is checked for every warehouse named before any stock is read:
    "adjust" for adjustments, "post" for the rest (and ``stock.add_movement``). FEFO picks are
    planned without locks and checked under lock by ``movement_post``; if a concurrent posting
    took the stock meanwhile, the whole batch is planned again (at most ``FEFO_RETRIES`` times).
    The same idempotency key returns the first posting's movements (``requests_post``;
    ``fresh_key``: see there).

    No transaction of its own: every write of ``requests_post`` already runs in one (a new lot
    with the posting, each ``movement_post`` attempt in its own atomic block), so a refusal
    writes nothing and leaves the caller's transaction usable (a one-line posting through the
    posting function without any savepoint: ``function._post_line_in_database``).

    ``available_after`` (a sale's answer): gets the available quantity of the items in its
    warehouse after posting where the posting reads it itself (one line through the posting
    function); the caller reads the others (``stock.selectors.stock_available_by_item``)."""
    return requests_post(
        requests,
        actor=actor,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        fresh_key=fresh_key,
        available_after=available_after,
    )

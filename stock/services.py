"""The only writer of the ledger: movements, stock levels, valuation, reservations.

Every business action (receive, issue, transfer, scrap, adjust, return, reverse, reserve,
release, consume) ends in ``movement_post`` or, for reservations, in ``_levels_change_reserved``.

Locking protocol (docs/ledger.md), the same in every path so that no two postings deadlock:
1. document rows first (the reservation being consumed, the movement being reversed or the
   shipment arriving), with ``SELECT ... FOR UPDATE``;
2. then the ``StockLevel`` rows, all of them in (item, location, lot) order, after creating the
   missing ones (in that same order, ``ON CONFLICT DO NOTHING``) before locking any;
3. then the ``ItemValuation`` rows in (item, warehouse) order; their lock guards the pair's FIFO
   layers.
On PostgreSQL a one-line posting that reverses nothing runs this same protocol in one statement,
the database function ``stock_post_line`` (migration 0006, ``_post_line_in_database``).
Call ``movement_post`` once per transaction with all lines (it takes a batch) rather than
several times: two separate calls would lock in two rounds and the order would no longer hold.

Refusals raise a ``StockError`` subclass before anything is written, or roll the savepoint back,
so a refused posting leaves no row behind. Every action checks the ``actor``'s permission
(``catalog.permissions``: the model permission of the role and the warehouse's object
permission) and raises ``WarehousePermissionDenied`` before writing; ``actor=None`` is the
system itself (migrations, operators' management commands) and is trusted.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import Item, ItemStatus, Location, LocationKind, Tracking, ValuationMethod, Warehouse
from catalog.permissions import WarehouseAction, warehouse_allows, warehouse_require
from catalog.units import QuantityProblem, countable, format_quantity, quantity_problem
from common.errors import DomainError

from .models import (
    MONEY_STEP,
    QTY_STEP,
    ZERO,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Lot,
    Movement,
    MovementKind,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)

LevelKey = tuple[int, int, int | None]  # (item_id, location_id, lot_id)
ValuationKey = tuple[int, int]  # (item_id, warehouse_id)

CLOCK_SKEW = timedelta(minutes=5)
# An optimistic FEFO plan fails only when a concurrent posting took planned stock, and a plan
# that finds too little stock refuses at once; so re-planning converges (each failure is someone
# else's success). The bound only guards against a bug turning that into an endless loop.
FEFO_RETRIES = 200

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


# --- Errors ----------------------------------------------------------------------------------


class StockError(DomainError):
    """A refused stock operation. ``code`` is machine-readable, ``str()`` is for people;
    ``http_status`` is the API's answer (400 unless a subclass says otherwise)."""

    code = "stock_error"


class InsufficientStock(StockError):
    """Less available than asked: a conflict with the stock as it lies (409 at the API, with
    ``sku``, ``available``, ``asked``, ``warehouse``, ``location`` and ``lot``)."""

    code = "insufficient_stock"
    http_status = 409

    def __init__(
        self, *, item: Item, location: Location | Warehouse | None, lot: Lot | None, asked: Decimal, available: Decimal
    ) -> None:
        if isinstance(location, Warehouse):
            where = f" in warehouse {location.code}"
        else:
            where = f" at {location}" if location is not None else ""
        lot_text = f" (lot {lot.code})" if lot is not None else ""

        def number(value: Decimal) -> str:  # with the unit's places: "Only 1.250 of BEANS"
            return format_quantity(value, item.base_unit, with_unit=False)

        super().__init__(
            f"Only {number(available)} of {item.sku}{lot_text} available{where}; asked {number(asked)}.",
            sku=item.sku,
            location=str(location) if location else None,
            lot=lot.code if lot else None,
            asked=asked,
            available=available,
        )
        self.item, self.location, self.lot, self.asked, self.available = item, location, lot, asked, available

    def api_fields(self) -> dict[str, Any]:
        where = self.location  # a Location, a Warehouse (FEFO over it) or None
        warehouse = where if isinstance(where, Warehouse) else getattr(where, "warehouse", None)
        return {
            "sku": self.item.sku,
            "available": str(self.available.quantize(QTY_STEP)),
            "asked": str(self.asked.quantize(QTY_STEP)),
            "warehouse": warehouse.code if warehouse is not None else None,
            "location": str(where) if isinstance(where, Location) else None,
            "lot": self.lot.code if self.lot is not None else None,
        }


class InvalidMovement(StockError):
    code = "invalid_movement"


class AlreadyReversed(StockError):
    """The movement was reversed before: a conflict with the ledger as it stands (409)."""

    code = "already_reversed"
    http_status = 409


class BackdatedTooFar(InvalidMovement):
    """``occurred_at`` is further back than ``STOCK_BACKDATE_DAYS`` and the actor may not adjust
    stock in the posting's warehouses (or it falls into a closed period)."""

    code = "backdated_too_far"


class QuantityFinerThanUnit(InvalidMovement):
    """A quantity finer than the item's base unit allows (2.5 of a unit counted in whole
    units). ``problem`` (catalog.units.QuantityProblem) carries sku, unit, decimal_places and
    quantity; the message is the one every door shows."""

    code = "quantity_finer_than_unit"

    def __init__(self, problem: QuantityProblem) -> None:
        super().__init__(
            problem.message,
            sku=problem.sku,
            unit=problem.unit,
            decimal_places=problem.decimal_places,
            quantity=problem.quantity,
        )
        self.problem = problem


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value.normalize()}"


# --- Lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MovementLine:
    """One movement to post. ``unit_cost`` prices stock coming into a warehouse from outside
    (receipts, gains, returns); None means the current cost there (average, last, or the
    item's standard cost). ``total_cost``, when given, is the exact cost such a line brings in
    (instead of ``quantity x unit_cost`` rounded): the last arrival of a shipment carries what is
    left of the shipment's value, to the last decimal. ``reserved`` is the part of ``quantity``
    that consumes the source level's reserved stock (reservation consume); it must not exceed
    ``quantity``. ``rounds_off`` (set by ``stock_adjust`` only, see ``_rounds_off``) lets an
    adjustment finer than the unit through when it makes the level countable again."""

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


@dataclass
class _Costing:
    """What one line does to valuation, computed under lock before anything is inserted."""

    total_cost: Decimal = ZERO
    new_layers: list[CostLayer] = field(default_factory=list)
    consumptions: list[tuple[CostLayer, Decimal, Decimal]] = field(default_factory=list)


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
    actor: AbstractBaseUser | None = None,
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


def _backdating_require(
    when: datetime, now: datetime, *, actor: AbstractBaseUser | None, warehouses: Iterable[Warehouse]
) -> None:
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


def _posting_warehouses(lines: Sequence[MovementLine]) -> list[Warehouse]:
    """The warehouses of the internal sides of ``lines`` (virtual locations have none)."""
    found: dict[int, Warehouse] = {}
    for line in lines:
        for location in (line.source, line.destination):
            if location.warehouse_id is not None:
                found[location.warehouse_id] = location.warehouse
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
        if location.is_internal and (not location.active or not location.warehouse.active):
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
    if line.kind == MovementKind.ISSUE and expiry is not None and expiry < timezone.localdate():
        raise InvalidMovement(f"Lot {line.lot.code} of {item.sku} expired on {expiry}: it cannot be sold; scrap it.")
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


# --- Posting ----------------------------------------------------------------------------------


def movement_post(
    *,
    lines: MovementLine | Sequence[MovementLine],
    actor: AbstractBaseUser | None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Movement]:
    """Post one movement or a batch, atomically: all lines or none.

    Locks the stock levels (and valuations) the lines touch in the fixed order, refuses with
    ``InsufficientStock`` (naming item, location, lot, asked and available) when a source
    would go below what is available, and otherwise inserts the movements, updates the levels,
    the valuation and the FIFO layers in one transaction. With an ``idempotency_key`` that was
    already used, returns the movements of that first posting and writes nothing, also when
    retries race: the unique key makes the later one roll back and read the first.
    """
    return _post_movements(lines, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)


def purchase_receipts_post(
    *,
    lines: Sequence[MovementLine],
    actor: AbstractBaseUser | None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Movement]:
    """Post the receipts of a purchase order (``purchasing.services.purchase_order_receive``):
    ``movement_post`` in every respect but the permission, which is the warehouse's "receive
    purchase orders" (docs/roles.md: a purchaser may receive what they ordered without the right
    to move or issue stock). Every line must be a receipt from the supplier location into an
    internal location; anything else is refused before anything is written."""
    supplier = _virtual(LocationKind.SUPPLIER)
    for line in lines:
        if line.kind != MovementKind.RECEIPT or line.source.pk != supplier.pk or not line.destination.is_internal:
            raise InvalidMovement("A purchase receipt goes from the supplier location into a warehouse location.")
    return _post_movements(
        list(lines),
        actor=actor,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        authorize=_authorize_purchase_receipts,
    )


def _authorize_purchase_receipts(actor: AbstractBaseUser | None, lines: Sequence[MovementLine]) -> None:
    if actor is not None:
        warehouse_require(actor, [line.destination.warehouse for line in lines], WarehouseAction.RECEIVE_PURCHASES)


def _post_movements(
    lines: MovementLine | Sequence[MovementLine],
    *,
    actor: AbstractBaseUser | None,
    idempotency_key: str | None,
    occurred_at: datetime | None,
    authorize: Callable[[AbstractBaseUser | None, Sequence[MovementLine]], None] | None = None,
) -> list[Movement]:
    """``movement_post``'s body; ``authorize`` (default ``_authorize``) refuses, before
    anything is written, what ``actor`` may not post."""
    batch = [lines] if isinstance(lines, MovementLine) else list(lines)
    if not batch:
        raise InvalidMovement("Nothing to post: no lines.")
    if len(batch) > 1000:
        raise InvalidMovement("At most 1000 lines can be posted at once.")
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > 200:
            raise InvalidMovement("An idempotency key has 1 to 200 characters.")
    when = _occurred_at(occurred_at)
    # A used key is not looked up first: a retry is rare, and it is answered below when the
    # unique key refuses its movement or its stock is found gone (it rolled back, wrote nothing);
    # the same happens when two retries race.
    try:
        checked = [_validate_line(line) for line in batch]
        (authorize or _authorize)(actor, checked)
        when = _occurred_at(occurred_at, actor=actor, warehouses=_posting_warehouses(checked))
        if _posts_in_database(checked):
            return [_post_line_in_database(checked[0], actor=actor, idempotency_key=idempotency_key, occurred_at=when)]
        try:
            with transaction.atomic():
                return _post(
                    checked, actor=actor, idempotency_key=idempotency_key, occurred_at=when, create_missing=False
                )
        except _MissingRows:  # first posting of an (item, location, lot) or (item, warehouse)
            with transaction.atomic():
                return _post(
                    checked, actor=actor, idempotency_key=idempotency_key, occurred_at=when, create_missing=True
                )
    except (IntegrityError, StockError):
        if idempotency_key is not None and (previous := movements_for_key(idempotency_key)):
            return previous
        raise


def movements_for_key(idempotency_key: str) -> list[Movement]:
    """The movements of the posting that used this key (empty if none did)."""
    first = Movement.objects.filter(idempotency_key=idempotency_key).only("batch").first()
    if first is None:
        return []
    return list(Movement.objects.filter(batch=first.batch).order_by("batch_line"))


def _authorize(actor: AbstractBaseUser | None, lines: Sequence[MovementLine]) -> None:
    """Refuse, before anything is written, unless ``actor`` may post movements
    (``stock.add_movement``) and may do each line's action in the warehouses it touches:
    adjustments and reversals need "adjust", everything else "post" (catalog/permissions.py)."""
    if actor is None:
        return
    needs: dict[str, dict[int, Warehouse]] = defaultdict(dict)
    for line in lines:
        action = (
            WarehouseAction.ADJUST
            if line.kind in (MovementKind.ADJUSTMENT, MovementKind.REVERSAL)
            else WarehouseAction.POST
        )
        for location in (line.source, line.destination):
            if location.is_internal:
                needs[action][location.warehouse_id] = location.warehouse
    if not needs:
        warehouse_require(actor, None, WarehouseAction.POST, model_perm="stock.add_movement")
    for action, warehouses in needs.items():
        warehouse_require(actor, warehouses.values(), action, model_perm="stock.add_movement")


def _level_policy(location: Location) -> bool:
    """May this location's level go negative? Virtual locations always; internal ones when
    their warehouse allows negative stock."""
    return not location.is_internal or location.warehouse.allow_negative_stock


@dataclass
class _Deltas:
    """What a batch does to stock levels, per (item, location, lot): on-hand and reserved."""

    on_hand: dict[LevelKey, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    reserved: dict[LevelKey, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    locations: dict[int, Location] = field(default_factory=dict)
    items: dict[int, Item] = field(default_factory=dict)
    lots: dict[int, Lot] = field(default_factory=dict)

    @classmethod
    def of(cls, lines: Sequence[MovementLine]) -> _Deltas:
        deltas = cls()
        for line in lines:
            lot_id = line.lot.pk if line.lot else None
            source_key = (line.item.pk, line.source.pk, lot_id)
            deltas.on_hand[source_key] -= line.quantity
            deltas.on_hand[(line.item.pk, line.destination.pk, lot_id)] += line.quantity
            deltas.reserved[source_key] -= line.reserved
            deltas.locations[line.source.pk] = line.source
            deltas.locations[line.destination.pk] = line.destination
            deltas.items[line.item.pk] = line.item
            if line.lot is not None:
                deltas.lots[line.lot.pk] = line.lot
        return deltas

    def refusal(self, key: LevelKey, available: Decimal) -> InsufficientStock:
        return InsufficientStock(
            item=self.items[key[0]],
            location=self.locations[key[1]],
            lot=self.lots.get(key[2]) if key[2] else None,
            asked=-self.on_hand[key],
            available=available,
        )


def _post(
    lines: list[MovementLine], *, actor, idempotency_key: str | None, occurred_at: datetime, create_missing: bool
) -> list[Movement]:
    deltas = _Deltas.of(lines)
    levels = _lock_levels(deltas.on_hand.keys(), create_missing=create_missing)
    for key, delta in deltas.on_hand.items():
        level = levels[key]
        free_after = level.on_hand + delta - (level.reserved + deltas.reserved[key])
        if (
            delta < 0
            and free_after < 0
            and (level.reserved + deltas.reserved[key] > 0 or not _level_policy(deltas.locations[key[1]]))
        ):
            raise deltas.refusal(key, available=level.on_hand - level.reserved - deltas.reserved[key])

    costings = _cost_lines(lines, create_missing=create_missing)

    now = timezone.now()
    batch = uuid.uuid4()
    movements = [
        _movement(
            line,
            batch=batch,
            number=number,
            unit_cost=(costing.total_cost / line.quantity).quantize(MONEY_STEP),
            total_cost=costing.total_cost,
            actor=actor,
            occurred_at=occurred_at,
            posted_at=now,
            idempotency_key=idempotency_key if number == 1 else None,
        )
        for number, (line, costing) in enumerate(zip(lines, costings, strict=True), start=1)
    ]
    _insert_movements(movements)
    # A level still below zero after this posting was already negative (the check above
    # refuses to take one there) and is being filled: the warehouse allowed negative stock
    # when it went negative. It stays flagged until filled, and reconciliation reports it.
    _levels_apply(
        [
            (
                levels[k].pk,
                delta,
                deltas.reserved[k],
                _level_policy(deltas.locations[k[1]]) or levels[k].on_hand + delta < 0,
            )
            for k, delta in deltas.on_hand.items()
        ]
    )
    _save_costings(movements, costings)
    return movements


def _movement(
    line: MovementLine,
    *,
    batch: uuid.UUID,
    number: int,
    unit_cost: Decimal,
    total_cost: Decimal,
    actor,  # noqa: ANN001 - a user or None
    occurred_at: datetime,
    posted_at: datetime,
    idempotency_key: str | None,
) -> Movement:
    """The (not yet saved) movement of ``line``, number ``number`` of ``batch``. Built like
    ``Model.from_db`` builds rows (attribute values in field order, related objects put in the
    cache): keyword construction through the relation descriptors cost more than posting it."""
    values = {
        "id": None,
        "batch": batch,
        "batch_line": number,
        "item_id": line.item.pk,
        "lot_id": line.lot.pk if line.lot is not None else None,
        "quantity": line.quantity,
        "source_id": line.source.pk,
        "destination_id": line.destination.pk,
        "kind": line.kind,
        "reason_code": line.reason_code,
        "note": line.note,
        "unit_cost": unit_cost,
        "total_cost": total_cost,
        "reference_type": line.reference_type,
        "reference_id": line.reference_id,
        "reference_line": line.reference_line,
        "actor_id": actor.pk if actor is not None else None,
        "occurred_at": occurred_at,
        "posted_at": posted_at,
        "idempotency_key": idempotency_key,
        "reverses_id": line.reverses.pk if line.reverses is not None else None,
    }
    movement = Movement(*[values[name] for name in _MOVEMENT_ATTNAMES])
    movement._state.fields_cache.update(
        item=line.item,
        lot=line.lot,
        source=line.source,
        destination=line.destination,
        actor=actor,
        reverses=line.reverses,
    )
    return movement


_MOVEMENT_ATTNAMES = [field.attname for field in Movement._meta.concrete_fields]


# --- One round trip (PostgreSQL) --------------------------------------------------------------

# SQLSTATEs of stock_post_line: the source has too little (DETAIL: the available quantity), and
# a level or valuation row is missing (call again, creating rows first).
_SQLSTATE_INSUFFICIENT = "IV001"
_SQLSTATE_MISSING_ROWS = "IV002"
_POST_LINE = "SELECT * FROM stock_post_line(" + ", ".join(["%s"] * 26) + ")"


def _sqlstate(error: DatabaseError) -> str | None:
    return getattr(error.__cause__, "sqlstate", None)


def _posts_in_database(lines: list[MovementLine]) -> bool:
    """Does this posting go through the database function ``stock_post_line`` (migration
    0006)? On PostgreSQL, one line that reverses nothing: the function writes exactly what
    ``_post`` would, in one statement instead of seven or more (tests/stock/test_posting_function.py
    posts the same sequences both ways and compares every row). Batches and reversals take the
    Python path."""
    return (
        len(lines) == 1
        and lines[0].reverses is None
        and connection.vendor == "postgresql"
        and settings.STOCK_POSTING_FUNCTION
    )


# ``stock_post_line`` (migration 0006) mirrors these Python rules. The parity tests
# (tests/stock/test_posting_function.py) pin both sources: changing either fails there until both
# were looked at and the pins below updated.
POSTING_FUNCTION_MIRRORS = (
    "_Deltas",
    "_post",
    "_level_policy",
    "_levels_apply",
    "_lock_rows",
    "_cost_lines",
    "_current_unit_cost",
    "_average_take",
    "_open_layers",
    "_fifo_take",
    "_save_costings",
)
POSTING_FUNCTION_PINS = {"sql": "e2f91cf3ea4f33c0", "python": "1c992a1c505f8094"}


def _post_line_in_database(
    line: MovementLine, *, actor, idempotency_key: str | None, occurred_at: datetime
) -> Movement:
    """Post one validated, authorised line with ``stock_post_line``: one statement that
    follows the locking protocol of ``_post`` (levels, then valuations, each in key order; when
    a row is missing the call fails, which releases its locks, and runs again creating the
    missing rows before any lock) and either writes everything or nothing. Outside a
    transaction the statement is its own transaction (no BEGIN and COMMIT round trips); inside
    one it runs in a savepoint, so a refusal leaves the caller's transaction usable."""
    source, destination = line.source, line.destination
    batch, posted_at = uuid.uuid4(), timezone.now()
    params = [
        batch,
        line.item.pk,
        line.lot.pk if line.lot is not None else None,
        line.quantity,
        line.reserved,
        source.pk,
        _warehouse_of(source),
        _level_policy(source),
        destination.pk,
        _warehouse_of(destination),
        _level_policy(destination),
        line.kind,
        line.reason_code,
        line.note,
        line.unit_cost,
        line.total_cost,
        line.item.standard_cost,
        line.reference_type,
        line.reference_id,
        line.reference_line,
        actor.pk if actor is not None else None,
        occurred_at,
        posted_at,
        idempotency_key,
        line.item.valuation_method == ValuationMethod.FIFO,
    ]

    def call(create_missing: bool) -> tuple[int, Decimal, Decimal]:
        with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
            cursor.execute(_POST_LINE, [*params, create_missing])
            return cursor.fetchone()

    try:
        try:
            movement_id, unit_cost, total_cost = call(create_missing=False)
        except DatabaseError as exc:
            if _sqlstate(exc) != _SQLSTATE_MISSING_ROWS:
                raise
            movement_id, unit_cost, total_cost = call(create_missing=True)
    except DatabaseError as exc:
        if _sqlstate(exc) != _SQLSTATE_INSUFFICIENT:
            raise
        available = Decimal(exc.__cause__.diag.message_detail)
        raise InsufficientStock(
            item=line.item, location=source, lot=line.lot, asked=line.quantity, available=available
        ) from None
    movement = _movement(
        line,
        batch=batch,
        number=1,
        unit_cost=unit_cost,
        total_cost=total_cost,
        actor=actor,
        occurred_at=occurred_at,
        posted_at=posted_at,
        idempotency_key=idempotency_key,
    )
    _mark_saved(movement, movement_id)
    return movement


def _mark_saved(movement: Movement, pk: int) -> None:
    """Make an instance written by raw SQL look as if ``save()`` had written it."""
    movement.pk = pk
    movement._state.adding = False
    movement._state.db = connection.alias


# The hot path below is plain SQL (the same text on PostgreSQL and SQLite): building these
# statements through the ORM cost more than running them. Table names come from _meta.


def _for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _level_order(key: LevelKey) -> tuple:
    """The one lock order of stock levels: rows without lot first, then rows with a lot, each
    by (item, location, lot). Every path that locks levels follows it."""
    return (key[2] is not None, key[0], key[1], key[2] or 0)


def _number(value: object) -> Decimal:
    """A numeric column as Decimal (SQLite hands back floats or ints)."""
    return value if isinstance(value, Decimal) else Decimal(repr(value)).quantize(QTY_STEP)


def _levels_apply(changes: list[tuple[int, Decimal, Decimal, bool]]) -> None:
    """Add the deltas to the (already locked) levels in one UPDATE: (pk, on-hand delta,
    reserved delta, allow negative). VALUES columns are column1.. on both databases."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {StockLevel._meta.db_table} SET on_hand = on_hand + d.column2, "
            "reserved = reserved + d.column3, allow_negative = d.column4 "
            f"FROM (VALUES {', '.join(['(%s, %s, %s, %s)'] * len(changes))}) AS d WHERE id = d.column1",
            [value for change in changes for value in change],
        )


def _insert_movements(movements: list[Movement]) -> None:
    """One INSERT ... RETURNING id for the batch; the instances get their ids."""
    fields = [f for f in Movement._meta.concrete_fields if not f.primary_key]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    params = [f.get_db_prep_save(getattr(m, f.attname), connection) for m in movements for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Movement._meta.db_table} ({columns}) "
            f"VALUES {', '.join([row] * len(movements))} RETURNING id",
            params,
        )
        for movement, (pk,) in zip(movements, cursor.fetchall(), strict=True):
            _mark_saved(movement, pk)


class _MissingRows(Exception):
    """The fast path found a level or valuation row missing: roll back and post again,
    creating rows first (``create_missing``)."""


def _lock_rows(
    model: type[models.Model],
    columns: tuple[str, ...],
    keys: list[tuple],
    *,
    order_by: str,
    create_missing: bool,
    initial: dict[str, str],
) -> list[models.Model]:
    """Lock the rows of ``model`` whose key ``columns`` have these values, in ``order_by``
    order, and return them as instances. New rows get the ``initial`` SQL literals.

    Fast path (``create_missing=False``): one ``SELECT ... ORDER BY ... FOR UPDATE``; if a row
    is missing it raises ``_MissingRows`` and the caller rolls back, which also releases the
    locks taken (PostgreSQL releases locks taken after the savepoint rolled back to).
    Slow path: first an ``INSERT ... ON CONFLICT DO NOTHING`` of every key in order, before any
    lock is held (so a wait on a concurrent insert of the same row holds nothing anyone else
    needs), then the same locking SELECT."""
    table = model._meta.db_table
    where, params = [], []
    for key in keys:
        parts = []
        for column, value in zip(columns, key, strict=True):
            if value is None:
                parts.append(f"{column} IS NULL")
            else:
                parts.append(f"{column} = %s")
                params.append(value)
        where.append("(" + " AND ".join(parts) + ")")
    with connection.cursor() as cursor:
        if create_missing:
            row = "(" + ", ".join(["%s"] * len(columns) + list(initial.values())) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({', '.join([*columns, *initial])}) VALUES {', '.join([row] * len(keys))} "
                "ON CONFLICT DO NOTHING",
                [value for key in keys for value in key],
            )
        cursor.execute(f"SELECT * FROM {table} WHERE {' OR '.join(where)} ORDER BY {order_by}{_for_update()}", params)
        names = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
    if len(rows) < len(keys):
        if create_missing:
            raise AssertionError(f"rows of {table} missing after creating them")
        raise _MissingRows(table)
    fields = {f.column: f for f in model._meta.concrete_fields}
    instances = []
    for values in rows:
        data = {}
        for name, value in zip(names, values, strict=True):
            field = fields[name]
            if isinstance(field, models.DecimalField):
                value = _number(value)
            elif isinstance(field, models.BooleanField):
                value = bool(value)
            data[field.attname] = value
        instance = model(**data)
        instance._state.adding = False
        instances.append(instance)
    return instances


def _lock_levels(keys: Iterable[LevelKey], *, create_missing: bool = True) -> dict[LevelKey, StockLevel]:
    """Lock the StockLevel rows of ``keys`` in ``_level_order`` (see ``_lock_rows``)."""
    rows = _lock_rows(
        StockLevel,
        ("item_id", "location_id", "lot_id"),
        sorted(set(keys), key=_level_order),
        order_by="lot_id IS NOT NULL, item_id, location_id, lot_id",
        create_missing=create_missing,
        initial={"on_hand": "0", "reserved": "0", "allow_negative": "FALSE"},
    )
    return {(level.item_id, level.location_id, level.lot_id): level for level in rows}


def _lock_valuations(keys: Iterable[ValuationKey], *, create_missing: bool = True) -> dict[ValuationKey, ItemValuation]:
    """Lock the (item, warehouse) valuation rows in key order (see ``_lock_rows``)."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    rows = _lock_rows(
        ItemValuation,
        ("item_id", "warehouse_id"),
        ordered,
        order_by="item_id, warehouse_id",
        create_missing=create_missing,
        initial={"quantity": "0", "value": "0", "last_unit_cost": "0"},
    )
    return {(valuation.item_id, valuation.warehouse_id): valuation for valuation in rows}


def _valuations_save(valuations: Iterable[ItemValuation]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {ItemValuation._meta.db_table} SET quantity = %s, value = %s, last_unit_cost = %s WHERE id = %s",
            [(v.quantity, v.value, v.last_unit_cost, v.pk) for v in valuations],
        )


# --- Valuation --------------------------------------------------------------------------------


def _warehouse_of(location: Location) -> int | None:
    return location.warehouse_id if location.is_internal else None


def _cost_lines(lines: list[MovementLine], *, create_missing: bool = True) -> list[_Costing]:
    """Price every line and stage its effect on valuation (quantities, values, FIFO layers).

    A line that crosses a warehouse boundary takes its cost out of the source warehouse
    (moving average or FIFO) and brings the same cost into the destination warehouse; stock
    arriving from a virtual location brings ``unit_cost`` (or the current cost). A reversal
    mirrors the cost of the movement it reverses exactly. Lines inside one warehouse change no
    value; they record quantity x the average cost for information.
    """
    keys: set[ValuationKey] = set()
    for line in lines:
        source_wh, destination_wh = _warehouse_of(line.source), _warehouse_of(line.destination)
        for wh in (source_wh, destination_wh):
            if wh is not None:
                keys.add((line.item.pk, wh))
    valuations = _lock_valuations(keys, create_missing=create_missing)
    layer_cache: dict[ValuationKey, list[CostLayer]] = {}
    costings: list[_Costing] = []
    for line in lines:
        costing = _Costing()
        source_wh, destination_wh = _warehouse_of(line.source), _warehouse_of(line.destination)
        fifo = line.item.valuation_method == ValuationMethod.FIFO
        if source_wh is not None and source_wh == destination_wh:
            # Inside one warehouse no value moves; the cost is recorded for information, and a
            # reversal records the cost its original carried.
            costing.total_cost = (
                line.reverses.total_cost
                if line.reverses is not None
                else (line.quantity * valuations[(line.item.pk, source_wh)].average_cost).quantize(MONEY_STEP)
            )
            costings.append(costing)
            continue
        cost: Decimal | None = None
        if source_wh is not None:
            valuation = valuations[(line.item.pk, source_wh)]
            if line.reverses is not None:
                cost = _reverse_incoming(line, valuation, fifo, costing)
            elif fifo:
                cost = _fifo_take(line, valuation, layer_cache, costing)
            else:
                cost = _average_take(line.quantity, valuation, line.item)
            valuation.quantity -= line.quantity
            valuation.value -= cost
        if destination_wh is not None:
            valuation = valuations[(line.item.pk, destination_wh)]
            if line.reverses is not None:
                cost = _reverse_outgoing(line, valuation, fifo, costing, cost)
            else:
                if cost is None and line.total_cost is not None:
                    cost = line.total_cost
                if cost is None:
                    unit = line.unit_cost if line.unit_cost is not None else _current_unit_cost(valuation, line.item)
                    cost = (line.quantity * unit).quantize(MONEY_STEP)
                if fifo:
                    costing.new_layers.append(
                        CostLayer(
                            item=line.item,
                            warehouse_id=destination_wh,
                            received_at=timezone.now(),
                            unit_cost=(cost / line.quantity).quantize(MONEY_STEP),
                            quantity=line.quantity,
                            remaining_quantity=line.quantity,
                            remaining_value=cost,
                        )
                    )
            valuation.quantity += line.quantity
            valuation.value += cost
            valuation.last_unit_cost = (cost / line.quantity).quantize(MONEY_STEP)
        if cost is None:  # between two virtual locations: no warehouse value changes
            cost = (
                line.reverses.total_cost
                if line.reverses
                else (line.quantity * (line.unit_cost or ZERO)).quantize(MONEY_STEP)
            )
        costing.total_cost = cost
        costings.append(costing)
    if valuations:
        _valuations_save(valuations.values())
    return costings


def _current_unit_cost(valuation: ItemValuation, item: Item) -> Decimal:
    if valuation.quantity > 0:
        return valuation.average_cost
    return valuation.last_unit_cost or item.standard_cost


def _average_take(quantity: Decimal, valuation: ItemValuation, item: Item) -> Decimal:
    """Cost of taking ``quantity`` out of a moving-average pool. Taking all that is there takes
    the whole value, so no rounding residue ever stays behind."""
    in_stock = min(quantity, max(valuation.quantity, ZERO))
    if in_stock == valuation.quantity and in_stock > 0:
        cost = valuation.value
    elif in_stock > 0:
        cost = (valuation.value * in_stock / valuation.quantity).quantize(MONEY_STEP)
    else:
        cost = ZERO
    beyond = quantity - in_stock  # only where negative stock is allowed
    if beyond > 0:
        cost += (beyond * _current_unit_cost(valuation, item)).quantize(MONEY_STEP)
    return cost


def _open_layers(key: ValuationKey, cache: dict[ValuationKey, list[CostLayer]]) -> list[CostLayer]:
    if key not in cache:
        cache[key] = list(
            CostLayer.objects.filter(item_id=key[0], warehouse_id=key[1], remaining_quantity__gt=0).order_by(
                "received_at", "id"
            )
        )
    return cache[key]


def _fifo_take(line: MovementLine, valuation: ItemValuation, cache: dict, costing: _Costing) -> Decimal:
    """Consume the oldest layers; beyond them (negative stock allowed) record a negative layer."""
    need, cost = line.quantity, ZERO
    last_unit = _current_unit_cost(valuation, line.item)
    for layer in _open_layers((line.item.pk, valuation.warehouse_id), cache):
        if need == 0:
            break
        if layer.remaining_quantity <= 0:
            continue
        take = min(need, layer.remaining_quantity)
        value = (
            layer.remaining_value if take == layer.remaining_quantity else (take * layer.unit_cost).quantize(MONEY_STEP)
        )
        layer.remaining_quantity -= take
        layer.remaining_value -= value
        costing.consumptions.append((layer, take, value))
        cost += value
        need -= take
        last_unit = layer.unit_cost
    if need > 0:
        value = (need * last_unit).quantize(MONEY_STEP)
        costing.new_layers.append(
            CostLayer(
                item=line.item,
                warehouse_id=valuation.warehouse_id,
                received_at=timezone.now(),
                unit_cost=last_unit,
                quantity=ZERO,
                remaining_quantity=-need,
                remaining_value=-value,
            )
        )
        cost += value
    return cost


def _reverse_incoming(line: MovementLine, valuation: ItemValuation, fifo: bool, costing: _Costing) -> Decimal:
    """Reversing a movement that brought stock into this warehouse takes the stock back out.
    Under FIFO it takes exactly what it brought: the quantity and value from its own layer.
    Under moving average the pool has mixed since, so it takes the quantity at the current
    average cost, like any issue: taking the original cost out instead could leave value with
    no stock, or a negative value, once later issues had spread that cost."""
    original = line.reverses
    assert original is not None
    if fifo:
        layer = (
            CostLayer.objects.filter(movement=original, warehouse_id=valuation.warehouse_id, quantity__gt=0)
            .select_for_update()
            .first()
        )
        if layer is None or layer.remaining_quantity < line.quantity:
            left = layer.remaining_quantity if layer else ZERO
            raise InvalidMovement(
                f"Movement #{original.pk} cannot be reversed: only {_fmt(left)} of its {_fmt(original.quantity)} "
                f"{original.item.sku} are still in stock at their cost; reverse what took them first."
            )
        value = layer.remaining_value if layer.remaining_quantity == line.quantity else original.total_cost
        layer.remaining_quantity -= line.quantity
        layer.remaining_value -= value
        costing.consumptions.append((layer, line.quantity, value))
        return value
    return _average_take(line.quantity, valuation, line.item)


def _reverse_outgoing(
    line: MovementLine, valuation: ItemValuation, fifo: bool, costing: _Costing, cost_out: Decimal | None
) -> Decimal:
    """Reversing a movement that took stock out of this warehouse puts back exactly what it
    took: its cost and, under FIFO, the quantities into the layers it consumed."""
    original = line.reverses
    assert original is not None
    if fifo:
        consumptions = list(
            CostLayerConsumption.objects.filter(
                movement=original, layer__warehouse_id=valuation.warehouse_id
            ).select_related("layer")
        )
        for consumption in consumptions:
            layer = consumption.layer
            layer.remaining_quantity += consumption.quantity
            layer.remaining_value += consumption.value
            costing.consumptions.append((layer, -consumption.quantity, -consumption.value))
        restored = sum((c.value for c in consumptions), ZERO)
        shortfall = original.total_cost - restored
        taken = original.quantity - sum((c.quantity for c in consumptions), ZERO)
        if taken > 0:  # the original went beyond the layers: give the negative layer back
            negative = CostLayer.objects.filter(
                movement=original, warehouse_id=valuation.warehouse_id, quantity=0
            ).first()
            if negative is not None:
                negative.remaining_quantity += taken
                negative.remaining_value += shortfall
                costing.consumptions.append((negative, -taken, -shortfall))
    return original.total_cost if cost_out is None else cost_out


def _save_costings(movements: list[Movement], costings: list[_Costing]) -> None:
    new_layers, consumption_rows, touched = [], [], {}
    for movement, costing in zip(movements, costings, strict=True):
        for layer in costing.new_layers:
            layer.movement = movement
            layer.received_at = movement.occurred_at
            new_layers.append(layer)
        for layer, quantity, value in costing.consumptions:
            touched[layer.pk] = layer
            consumption_rows.append(
                CostLayerConsumption(movement=movement, layer=layer, quantity=quantity, value=value)
            )
    for layer in touched.values():
        CostLayer.objects.filter(pk=layer.pk).update(
            remaining_quantity=layer.remaining_quantity, remaining_value=layer.remaining_value
        )
    if new_layers:
        CostLayer.objects.bulk_create(new_layers)
    if consumption_rows:
        CostLayerConsumption.objects.bulk_create(consumption_rows)


# --- Lots -------------------------------------------------------------------------------------


def lot_get_or_create(
    *, item: Item, code: str, expiry_date: date | None = None, received_on: date | None = None
) -> Lot:
    """The lot ``code`` of ``item``, created if new. A perishable item's new lot needs an expiry
    (or gets received date + shelf life); an existing lot must not be given another expiry."""
    code = (code or "").strip()
    if not code:
        raise InvalidMovement(f"{item.sku} is lot-tracked: give a lot code.")
    if item.tracking == Tracking.NONE:
        raise InvalidMovement(f"{item.sku} is not lot-tracked: post it without a lot.")
    lot = Lot.objects.filter(item=item, code=code).first()
    if lot is not None:
        if expiry_date is not None and lot.expiry_date not in (None, expiry_date):
            raise InvalidMovement(
                f"Lot {code} of {item.sku} already exists with expiry {lot.expiry_date}, not {expiry_date}."
            )
        return lot
    received_on = received_on or timezone.localdate()
    if expiry_date is None and item.perishable:
        if not item.shelf_life_days:
            raise InvalidMovement(f"Lot {code} of perishable {item.sku} needs an expiry date.")
        expiry_date = received_on + timedelta(days=item.shelf_life_days)
    lot, _ = Lot.objects.get_or_create(
        item=item, code=code, defaults={"expiry_date": expiry_date, "received_on": received_on}
    )
    return lot


def _resolve_lot(
    item: Item, lot: Lot | str | None, expiry_date: date | None = None, received_on: date | None = None
) -> Lot | None:
    if lot is None or isinstance(lot, Lot):
        return lot
    return lot_get_or_create(item=item, code=lot, expiry_date=expiry_date, received_on=received_on)


def _existing_lot(item: Item, lot: Lot | str | None) -> Lot | None:
    if lot is None or isinstance(lot, Lot):
        return lot
    found = Lot.objects.filter(item=item, code=lot.strip()).first()
    if found is None:
        raise InvalidMovement(f"{item.sku} has no lot {lot!r}.")
    return found


# --- Business actions -------------------------------------------------------------------------


def _virtual(kind: str) -> Location:
    return Location.objects.virtual(kind)


def _one(movements: list[Movement]) -> Movement:
    return movements[0]


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


def fefo_plan(
    *,
    item: Item,
    quantity: Decimal,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
) -> list[tuple[Location, Lot | None, Decimal]]:
    """Where to take ``quantity`` from: available stock of unexpired lots, first expiry first,
    then oldest lot, then location code. Raises InsufficientStock if there is not enough."""
    from .selectors import stock_levels_available_fefo

    plan, need = [], quantity
    candidates = stock_levels_available_fefo(item=item, warehouse=warehouse, location=location, lot=lot)
    for level in candidates:
        if need <= 0:
            break
        # Only what the unit can count: a bin holding 2.5 each (old data) gives 2, never 0.5.
        take = min(need, countable(level.available, item.base_unit))
        if take <= 0:
            continue
        plan.append((level.location, level.lot, take))
        need -= take
    if need > 0:
        raise InsufficientStock(
            item=item, location=location or warehouse, lot=lot, asked=quantity, available=quantity - need
        )
    return plan


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
    if problem := quantity_problem(item, quantity):  # before any plan: name the quantity asked for
        raise QuantityFinerThanUnit(problem)
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


def _require_reason(reason_code: str, what: str) -> str:
    reason_code = (reason_code or "").strip()
    if not reason_code:
        raise InvalidMovement(f"A {what} needs a reason code.")
    return reason_code


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
            rounds_off=_rounds_off(item, location, the_lot, delta),
        )
        return _one(movement_post(lines=line, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at))


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


# --- Reservations -----------------------------------------------------------------------------


def _levels_change_reserved(changes: dict[LevelKey, Decimal]) -> dict[LevelKey, StockLevel]:
    """Lock the levels (in order) and add ``changes`` to their ``reserved``."""
    levels = _lock_levels(changes.keys())
    for key, delta in changes.items():
        if delta:
            StockLevel.objects.filter(pk=levels[key].pk).update(reserved=F("reserved") + delta)
    return levels


@transaction.atomic
def reservation_create(
    *,
    item: Item,
    warehouse: Warehouse,
    quantity: Decimal,
    actor,
    location: Location | None = None,
    lot: Lot | str | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    idempotency_key: str | None = None,
) -> Reservation:
    """Hold ``quantity`` of an item for a demand document, allocated by FEFO over the warehouse
    (or the location's subtree, or one lot). Refuses with InsufficientStock if not enough is
    available; the same idempotency key returns the first reservation."""
    warehouse_require(actor, warehouse, WarehouseAction.POST, model_perm="stock.add_reservation")
    if idempotency_key and (previous := Reservation.objects.filter(idempotency_key=idempotency_key).first()):
        return previous
    quantity = _quantity(quantity)
    if quantity <= 0:
        raise InvalidMovement("A reservation needs a quantity greater than zero.")
    if problem := quantity_problem(item, quantity):
        raise QuantityFinerThanUnit(problem)
    if location is not None and location.warehouse_id != warehouse.pk:
        raise InvalidMovement(f"{location} is not in warehouse {warehouse.code}.")
    lot = _existing_lot(item, lot)
    for attempt in range(FEFO_RETRIES):
        plan = fefo_plan(item=item, quantity=quantity, warehouse=warehouse, location=location, lot=lot)
        changes = {(item.pk, loc.pk, plan_lot.pk if plan_lot else None): take for loc, plan_lot, take in plan}
        try:
            with transaction.atomic():
                levels = _lock_levels(changes.keys())
                for key, take in changes.items():  # checked under lock, before anything changes
                    if levels[key].available < take:
                        raise InsufficientStock(
                            item=item,
                            location=levels[key].location,
                            lot=levels[key].lot,
                            asked=take,
                            available=levels[key].available,
                        )
                _levels_change_reserved(changes)
                reservation = Reservation.objects.create(
                    item=item,
                    warehouse=warehouse,
                    location=location,
                    lot=lot,
                    quantity=quantity,
                    reference_type=reference_type,
                    reference_id=reference_id,
                    reference_line=reference_line,
                    idempotency_key=idempotency_key or None,
                    actor=actor,
                )
                ReservationLine.objects.bulk_create(
                    [
                        ReservationLine(reservation=reservation, location=loc, lot=plan_lot, quantity=take)
                        for loc, plan_lot, take in plan
                    ]
                )
                return reservation
        except InsufficientStock:
            if attempt == FEFO_RETRIES - 1:
                raise
        except IntegrityError:
            if idempotency_key and (previous := Reservation.objects.filter(idempotency_key=idempotency_key).first()):
                return previous
            raise
    raise AssertionError("unreachable")


def _take_from_lines(
    reservation: Reservation, quantity: Decimal | None
) -> tuple[Decimal, list[tuple[ReservationLine, Decimal]]]:
    open_quantity = reservation.open_quantity
    quantity = open_quantity if quantity is None else _quantity(quantity)
    if quantity != open_quantity and (problem := quantity_problem(reservation.item, quantity)):
        raise QuantityFinerThanUnit(problem)
    if reservation.status != ReservationStatus.OPEN or open_quantity <= 0:
        raise InvalidMovement(f"Reservation #{reservation.pk} is {reservation.get_status_display().lower()}.")
    if quantity <= 0 or quantity > open_quantity:
        raise InvalidMovement(
            f"Reservation #{reservation.pk} holds {_fmt(open_quantity)}; cannot take {_fmt(quantity)}."
        )
    takes, need = [], quantity
    for line in reservation.lines.filter(quantity__gt=0).select_related("location__warehouse", "lot").order_by("id"):
        if need <= 0:
            break
        take = min(need, line.quantity)
        takes.append((line, take))
        need -= take
    return quantity, takes


def _reservation_settle(
    reservation: Reservation, takes: list[tuple[ReservationLine, Decimal]], *, consumed: Decimal, released: Decimal
) -> Reservation:
    for line, take in takes:
        ReservationLine.objects.filter(pk=line.pk).update(quantity=F("quantity") - take)
    reservation.consumed += consumed
    reservation.released += released
    if reservation.open_quantity == 0:
        reservation.status = ReservationStatus.CONSUMED if reservation.consumed > 0 else ReservationStatus.RELEASED
    reservation.save(update_fields=["consumed", "released", "status", "updated_at"])
    return reservation


@transaction.atomic
def reservation_release(*, reservation: Reservation, actor, quantity: Decimal | None = None) -> Reservation:
    """Give back (part of) what is held: the levels' ``reserved`` drops, nothing moves."""
    warehouse_require(actor, reservation.warehouse, WarehouseAction.POST, model_perm="stock.change_reservation")
    reservation = Reservation.objects.select_for_update().get(pk=reservation.pk)
    quantity, takes = _take_from_lines(reservation, quantity)
    changes: dict[LevelKey, Decimal] = defaultdict(Decimal)
    for line, take in takes:
        changes[(reservation.item_id, line.location_id, line.lot_id)] -= take
    _levels_change_reserved(changes)
    return _reservation_settle(reservation, takes, consumed=ZERO, released=quantity)


@transaction.atomic
def reservation_consume(
    *,
    reservation: Reservation,
    actor,
    quantity: Decimal | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Movement]:
    """Ship (part of) what is held: issue movements from the reserved levels to the customer
    location, taking from ``reserved`` and ``on_hand`` together."""
    warehouse_require(actor, reservation.warehouse, WarehouseAction.POST, model_perm="stock.change_reservation")
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous
    reservation = Reservation.objects.select_for_update().select_related("item").get(pk=reservation.pk)
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous  # a racing retry consumed while we waited for the reservation lock
    quantity, takes = _take_from_lines(reservation, quantity)
    customer = _virtual(LocationKind.CUSTOMER)
    lines = [
        MovementLine(
            item=reservation.item,
            quantity=take,
            source=line.location,
            destination=customer,
            kind=MovementKind.ISSUE,
            lot=line.lot,
            reserved=take,
            reference_type=reservation.reference_type or "stock.reservation",
            reference_id=reservation.reference_id or str(reservation.pk),
            reference_line=reservation.reference_line,
        )
        for line, take in takes
    ]
    movements = movement_post(lines=lines, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)
    _reservation_settle(reservation, takes, consumed=quantity, released=ZERO)
    return movements


# --- Batches of business actions (API sales, returns, bulk movements) -------------------------


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
    from .selectors import stock_levels_available_fefo

    quantity = _quantity(request.quantity)
    if quantity <= 0:
        raise InvalidMovement(f"The quantity must be greater than zero (got {_fmt(quantity)}).")
    problem = quantity_problem(request.item, quantity)  # before planning: name the asked quantity
    if problem is not None:
        raise QuantityFinerThanUnit(problem)
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
        take = min(need, countable(level.available - taken[key], request.item.base_unit))
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
    when = _occurred_at(
        occurred_at, actor=actor, warehouses=[w for r in requests for w in _request_warehouses(r) if w is not None]
    )
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


# --- Adjustments awaiting approval (the clerk pages' scrap / adjust) -----------------------------
# Scrap and adjustments from the floor post at once when small; above the approval limits
# (settings STOCK_ADJUSTMENT_APPROVAL_QUANTITY and STOCK_ADJUSTMENT_APPROVAL_VALUE), or when the
# asker may not adjust stock themselves, they become an ``AdjustmentRequest`` that posts only
# when a manager of the warehouse approves it (in the admin). Approval locks the request row
# first (a document row), then posts through ``stock_scrap``/``stock_adjust``, which lock levels
# and valuations in the usual order: the protocol of this module holds.


@dataclass(frozen=True)
class AdjustmentOutcome:
    """What ``adjustment_submit`` did: posted ``movements`` at once, or filed ``request``."""

    movements: list[Movement]
    request: object | None = None  # an AdjustmentRequest waiting for approval

    @property
    def waiting(self) -> bool:
        return self.request is not None and not self.movements


def _approval_limits() -> tuple[Decimal, Decimal]:
    from django.conf import settings

    return (
        Decimal(str(getattr(settings, "STOCK_ADJUSTMENT_APPROVAL_QUANTITY", "10"))),
        Decimal(str(getattr(settings, "STOCK_ADJUSTMENT_APPROVAL_VALUE", "100"))),
    )


def adjustment_unit_cost(*, item: Item, warehouse: Warehouse) -> Decimal:
    """The unit cost an adjustment of ``item`` in ``warehouse`` would carry now (moving average,
    else the last cost, else the item's standard cost): what the value limit is checked with."""
    valuation = ItemValuation.objects.filter(item=item, warehouse=warehouse).first()
    return item.standard_cost if valuation is None else _current_unit_cost(valuation, item)


def adjustment_approval_reason(
    *, kind: str, item: Item, location: Location, quantity_delta: Decimal, actor, unit_cost: Decimal | None = None
) -> str:
    """Why this scrap or adjustment needs a manager's approval, in words for the asker; ``""``
    when it may post at once. Reads only (no lock): the decision is advisory, the posting
    services still check stock and permissions when it posts."""
    from django.conf import settings

    limit_quantity, limit_value = _approval_limits()
    size = abs(_quantity(quantity_delta))
    if size > limit_quantity:
        return f"{_fmt(size)} {item.base_unit.code} is more than the approval limit of {_fmt(limit_quantity)}"
    if unit_cost is None:
        unit_cost = adjustment_unit_cost(item=item, warehouse=location.warehouse)
    value = (size * unit_cost).quantize(Decimal("0.01"))
    if value > limit_value:
        currency = getattr(settings, "CURRENCY", "")
        return f"its value {currency} {value} is above the approval limit of {currency} {limit_value:.2f}"
    if kind == "adjustment" and actor is not None:
        from catalog.permissions import warehouse_allows

        if not warehouse_allows(actor, location.warehouse, WarehouseAction.ADJUST):
            return f"{actor} may not adjust stock in {location.warehouse.code} without a manager's approval"
    return ""


def adjustment_submit(
    *,
    kind: str,
    item: Item,
    location: Location,
    quantity_delta: Decimal,
    reason_code: str,
    actor,
    lot: Lot | str | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> AdjustmentOutcome:
    """Scrap (``kind="scrap"``, a negative ``quantity_delta``) or adjust (``"adjustment"``, a gain
    or a loss) at ``location``: posted at once through ``stock_scrap``/``stock_adjust`` when
    ``adjustment_approval_reason`` finds no reason to wait, otherwise filed as a pending
    ``AdjustmentRequest`` (nothing moves). The asker needs ``stock.add_movement`` and the
    warehouse's "post" or "adjust" permission. With an ``idempotency_key`` already used, returns
    the first outcome (its movements or its request) and writes nothing."""
    from .models import AdjustmentRequest, AdjustmentRequestKind

    if idempotency_key:
        if previous := movements_for_key(idempotency_key):
            return AdjustmentOutcome(movements=previous)
        if request := AdjustmentRequest.objects.filter(idempotency_key=idempotency_key).first():
            return AdjustmentOutcome(movements=[], request=request)
    if kind not in AdjustmentRequestKind.values:
        raise InvalidMovement(f"Unknown kind {kind!r}: scrap or adjustment.")
    reason_code = _require_reason(reason_code, "scrap" if kind == AdjustmentRequestKind.SCRAP else "stock adjustment")
    delta = _quantity(quantity_delta, "quantity change")
    if delta == 0:
        raise InvalidMovement("A change of zero changes nothing.")
    if kind == AdjustmentRequestKind.SCRAP and delta > 0:
        raise InvalidMovement("A scrap takes stock out: its change is negative.")
    if not location.is_internal:
        raise InvalidMovement(f"{location} is not a location in a warehouse.")
    warehouse = location.warehouse
    # Asking needs the right to post there ("post" or "adjust"); approving needs more.
    if not _warehouse_allows_any(actor, warehouse, (WarehouseAction.POST, WarehouseAction.ADJUST)):
        warehouse_require(actor, warehouse, WarehouseAction.POST, model_perm="stock.add_movement")
    warehouse_require(actor, None, WarehouseAction.POST, model_perm="stock.add_movement")
    unit_cost = adjustment_unit_cost(item=item, warehouse=warehouse)
    why = adjustment_approval_reason(
        kind=kind, item=item, location=location, quantity_delta=delta, actor=actor, unit_cost=unit_cost
    )
    if not why:
        if kind == AdjustmentRequestKind.SCRAP:
            movements = stock_scrap(
                item=item,
                quantity=-delta,
                location=location,
                lot=lot,
                reason_code=reason_code,
                actor=actor,
                note=note,
                idempotency_key=idempotency_key,
            )
        else:
            movements = [
                stock_adjust(
                    item=item,
                    location=location,
                    quantity_delta=delta,
                    lot=lot,
                    reason_code=reason_code,
                    actor=actor,
                    note=note,
                    idempotency_key=idempotency_key,
                )
            ]
        return AdjustmentOutcome(movements=movements)
    the_lot = _existing_lot(item, lot)
    line = MovementLine(
        item=item,
        quantity=abs(delta),
        source=location if delta < 0 else _virtual(LocationKind.INVENTORY_ADJUSTMENT),
        destination=_virtual(LocationKind.INVENTORY_ADJUSTMENT) if delta < 0 else location,
        kind=MovementKind.ADJUSTMENT,
        lot=the_lot,
        reason_code=reason_code,
        rounds_off=_rounds_off(item, location, the_lot, delta),
    )
    _validate_line(line)  # the same refusals the posting would give, before anyone approves
    if delta < 0:
        from .selectors import stock_on_hand

        available = stock_on_hand(item=item, location=location, lot=the_lot, include_sublocations=False).available
        if available < -delta:
            raise InsufficientStock(item=item, location=location, lot=the_lot, asked=-delta, available=available)
    try:
        with transaction.atomic():
            request = AdjustmentRequest.objects.create(
                warehouse=warehouse,
                item=item,
                location=location,
                lot=the_lot,
                kind=kind,
                quantity=delta,
                reason_code=reason_code,
                note=note,
                unit_cost=unit_cost,
                value=(abs(delta) * unit_cost).quantize(MONEY_STEP),
                approval_reason=why[:200],
                requested_by=actor,
                idempotency_key=idempotency_key or None,
            )
    except IntegrityError:
        if idempotency_key and (request := AdjustmentRequest.objects.filter(idempotency_key=idempotency_key).first()):
            return AdjustmentOutcome(movements=[], request=request)
        raise
    return AdjustmentOutcome(movements=[], request=request)


def _warehouse_allows_any(actor, warehouse: Warehouse, actions: Iterable[str]) -> bool:
    """True if ``actor`` may do at least one of ``actions`` in ``warehouse``."""
    from catalog.permissions import warehouse_allows

    return any(warehouse_allows(actor, warehouse, action) for action in actions)


def _lock_pending_request(request):  # noqa: ANN001, ANN202 - AdjustmentRequest in and out
    from .models import AdjustmentRequest

    locked = (
        AdjustmentRequest.objects.select_for_update(of=("self",))
        .select_related("item", "location__warehouse", "lot", "requested_by", "warehouse")
        .get(pk=request.pk)
    )
    if not locked.is_pending:
        raise InvalidMovement(f"Request #{locked.pk} is already {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def adjustment_request_approve(*, request, actor, note: str = ""):  # noqa: ANN001, ANN201 - AdjustmentRequest
    """Approve a pending request and post it, in one transaction: the request row is locked
    first (so two managers cannot post it twice), then ``stock_scrap``/``stock_adjust`` post with
    the approver as actor, referencing the request. The approver needs the warehouse's
    "approve" permission (and what the posting needs) and must not be the one who asked. A
    refused posting (stock gone meanwhile) rolls back and leaves the request pending."""
    from catalog.permissions import WarehousePermissionDenied

    from .models import AdjustmentRequestKind, AdjustmentRequestStatus

    request = _lock_pending_request(request)
    warehouse_require(actor, request.warehouse, WarehouseAction.APPROVE, model_perm="stock.add_movement")
    if actor is not None and actor.pk == request.requested_by_id:
        raise WarehousePermissionDenied(f"{actor} asked for request #{request.pk}: another manager must approve it.")
    common = {
        "item": request.item,
        "location": request.location,
        "lot": request.lot,
        "reason_code": request.reason_code,
        "actor": actor,
        "idempotency_key": f"adjustment-request:{request.pk}",
        "reference_type": "stock.adjustmentrequest",
        "reference_id": str(request.pk),
        "note": " ".join(p for p in (f"Asked by {request.requested_by} on the floor.", request.note, note) if p),
    }
    if request.kind == AdjustmentRequestKind.SCRAP:
        movement = stock_scrap(quantity=-request.quantity, **common)[0]
    else:
        movement = stock_adjust(quantity_delta=request.quantity, **common)
    request.status = AdjustmentRequestStatus.APPROVED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.movement = movement
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "movement"])
    return request


@transaction.atomic
def adjustment_request_reject(*, request, actor, note: str = ""):  # noqa: ANN001, ANN201 - AdjustmentRequest
    """Turn a pending request down; nothing is posted. Needs the warehouse's "approve" permission."""
    from .models import AdjustmentRequestStatus

    request = _lock_pending_request(request)
    warehouse_require(actor, request.warehouse, WarehouseAction.APPROVE)
    request.status = AdjustmentRequestStatus.REJECTED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return request

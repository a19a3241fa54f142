"""The one posting path: ``movement_post`` (and ``purchase_receipts_post``, which differs only in
the permission it asks) validates every line, checks the actor, and posts the batch through
``_post`` (Python) or ``function._post_line_in_database`` (one line on PostgreSQL). Idempotency
keys are answered here (``movements_for_key``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, Warehouse
from catalog.permissions import WarehouseAction, warehouse_require
from common.actors import Actor

from ..models import (
    MONEY_STEP,
    Lot,
    Movement,
    MovementKind,
)
from .bulk import _post_set, _posts_as_set, _rows_create
from .costing import (
    AUTOMATIC_CORRECTIONS,
    _average_take,
    _bring,
    _corrections,
    _cost_lines,
    _current_unit_cost,
    _fifo_take,
    _save_costings,
    _take,
)
from .errors import InsufficientStock, InvalidMovement, StockError, _Declined
from .function import _post_line_in_database, _posts_in_database
from .lines import (
    AvailableAfter,
    LevelKey,
    MovementLine,
    _level_policy,
    _occurred_at,
    _posting_warehouses,
    _validate_line,
    _virtual,
    _warehouse_action,
)
from .locks import (
    _insert_movements,
    _levels_apply,
    _lock_levels,
    _lock_rows,
    _MissingRows,
    _movement,
    _value_movements,
)
from .pools import _open_layers
from .shortfalls import _arrive


def movement_post(
    *,
    lines: MovementLine | Sequence[MovementLine],
    actor: Actor | None,
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
    actor: Actor | None,
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


def _authorize_purchase_receipts(actor: Actor | None, lines: Sequence[MovementLine]) -> None:
    if actor is not None:
        warehouse_require(actor, [line.destination.warehouse for line in lines], WarehouseAction.RECEIVE_PURCHASES)


def _post_movements(
    lines: MovementLine | Sequence[MovementLine],
    *,
    actor: Actor | None,
    idempotency_key: str | None,
    occurred_at: datetime | None,
    authorize: Callable[[Actor | None, Sequence[MovementLine]], None] | None = None,
    available_after: AvailableAfter | None = None,
) -> list[Movement]:
    """``movement_post``'s body; ``authorize`` (default ``_authorize``) refuses, before
    anything is written, what ``actor`` may not post; ``available_after``: see
    ``function._post_line_in_database``."""
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
            try:
                return [
                    _post_line_in_database(
                        checked[0],
                        actor=actor,
                        idempotency_key=idempotency_key,
                        occurred_at=when,
                        available_after=available_after,
                    )
                ]
            except _Declined:  # a shortfall made or settled: the Python path below
                pass
        if _posts_as_set(checked):
            try:
                with transaction.atomic():
                    return _post_set(checked, actor=actor, idempotency_key=idempotency_key, occurred_at=when)
            except _Declined:  # not one the set path handles (bulk.py): the reference path posts it
                pass
        try:
            with transaction.atomic():
                return _post(
                    checked, actor=actor, idempotency_key=idempotency_key, occurred_at=when, create_missing=False
                )
        except _MissingRows:  # first posting of an (item, location, lot) or (item, warehouse)
            with transaction.atomic():
                if connection.vendor == "postgresql":  # every missing row before any lock (bulk._rows_create)
                    _rows_create(checked)
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
    # The cost corrections a posting made itself are not among what it answers.
    return list(
        Movement.objects.filter(batch=first.batch)
        .exclude(kind=MovementKind.COST_CORRECTION, reason_code__in=AUTOMATIC_CORRECTIONS)
        .order_by("batch_line")
    )


def _authorize(actor: Actor | None, lines: Sequence[MovementLine]) -> None:
    """Refuse, before anything is written, unless ``actor`` may post movements
    (``stock.add_movement``) and may do each line's action in the warehouses it touches:
    adjustments and reversals need "adjust", everything else "post" (catalog/permissions.py)."""
    if actor is None:
        return
    needs: dict[str, dict[int, Warehouse]] = defaultdict(dict)
    for line in lines:
        action = _warehouse_action(line.kind)
        for location in (line.source, line.destination):
            if location.is_internal:
                warehouse = location.home_warehouse
                needs[action][warehouse.pk] = warehouse
    if not needs:
        warehouse_require(actor, None, WarehouseAction.POST, model_perm="stock.add_movement")
    for action, warehouses in needs.items():
        warehouse_require(actor, warehouses.values(), action, model_perm="stock.add_movement")


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
    lines: list[MovementLine],
    *,
    actor: Actor | None,
    idempotency_key: str | None,
    occurred_at: datetime,
    create_missing: bool,
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
    if corrections := _corrections(movements, costings):  # value-only, quantity 0: no level changes
        _insert_movements(
            _value_movements(
                corrections,
                batch=batch,
                start=len(movements) + 1,
                actor=actor,
                occurred_at=occurred_at,
                posted_at=now,
                idempotency_key=None,
            )
        )
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


# ``stock_post_line`` (migration 0006) mirrors these Python rules, and ``stock_post_line_guarded``
# (migration 0014, its caller) answers the outcomes ``_post_line_in_database`` reads. The parity
# tests (tests/stock/test_posting_function.py) pin both sources: changing either fails there until
# both were looked at and the pins below updated.
POSTING_FUNCTION_MIRRORS: tuple[type | Callable[..., object], ...] = (
    _post_line_in_database,
    _Deltas,
    _post,
    _level_policy,
    _levels_apply,
    _lock_rows,
    _cost_lines,
    _take,
    _bring,
    _arrive,
    _current_unit_cost,
    _average_take,
    _open_layers,
    _fifo_take,
    _save_costings,
)
POSTING_FUNCTION_PINS = {"sql": "3d70703778ee0c8a", "python": "6a6a962a95c5234b"}

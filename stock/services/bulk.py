"""Batches posted as sets (PostgreSQL): a batch of ``SET_MIN_LINES`` or more lines that each
bring stock in from a virtual location (receipts, opening balances, gains, customer returns) or
take stock of a moving-average item out to one (sales, scrap, losses, supplier returns) is
posted by ``_post_set`` in a fixed number of statements whatever its size, instead of
statements that grow with it: levels and valuations created if missing and locked each in ONE
statement in the package's order, the lines priced in one pass over the locked valuations, and
movements, level changes, valuations and FIFO layers written as sets (``INSERT ... SELECT ...
FROM unnest``, ``UPDATE ... FROM unnest``). It writes exactly the rows and refuses exactly what
``posting._post`` would (``_post`` stays the reference: tests/stock/test_posting_sets.py posts
random batches both ways and compares every row), and it DECLINES (``_Declined``: the savepoint
rolls back, releasing its locks, and ``_post`` posts the batch) what it does not handle:

- any line that is not one of those (``_set_handles``: transfers, reversals, FIFO issues, lines
  consuming reserved stock);
- any line whose item's valuation pool in that warehouse is negative, would go negative, or,
  under FIFO, has an open negative layer: how negative stock is priced and settled is
  ``shortfalls``' rule alone.

Locking (docs/ledger.md, "Locking"): missing level and valuation rows are inserted first, each
set in lock order with ``ON CONFLICT DO NOTHING``, before any lock is taken; then the levels
are locked in ``locks._level_order`` and the valuations in (item, warehouse) order, each with
one ``SELECT ... ORDER BY ... FOR UPDATE``."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from catalog.models import LocationKind, ValuationMethod
from common.actors import Actor

from ..models import MONEY_STEP, CostLayer, ItemValuation, Movement, StockLevel
from .costing import _average_share, _current_unit_cost
from .errors import InsufficientStock, _Declined
from .lines import LevelKey, MovementLine, ValuationKey, _level_policy
from .locks import _level_order, _mark_saved, _movement, _number

SET_MIN_LINES = 20
"""Batches this long or longer are posted as sets when every line is one ``_post_set`` handles."""

_INBOUND_SOURCES = frozenset({LocationKind.SUPPLIER, LocationKind.CUSTOMER, LocationKind.INVENTORY_ADJUSTMENT})
# Where stock taken out of a warehouse goes: customers (sales), scrap, losses, supplier returns.
_OUTBOUND_DESTINATIONS = frozenset(
    {LocationKind.CUSTOMER, LocationKind.SCRAP, LocationKind.INVENTORY_ADJUSTMENT, LocationKind.SUPPLIER}
)


def _set_handles(line: MovementLine) -> bool:
    """Is ``line`` one the set path posts, reversing nothing and consuming no reservation:
    stock coming into an internal location from a supplier, a customer or the loss/gain
    location, or stock of a moving-average item leaving an internal location for a customer,
    scrap, the loss/gain location or a supplier?"""
    if line.reverses is not None or line.origin is not None or line.reserved:
        return False
    if line.destination.is_internal:
        return line.source.kind in _INBOUND_SOURCES
    return (
        line.source.is_internal
        and line.destination.kind in _OUTBOUND_DESTINATIONS
        and line.item.valuation_method == ValuationMethod.MOVING_AVERAGE
    )


def _pool(line: MovementLine) -> ValuationKey:
    """The (item, warehouse) valuation pool a handled line changes: its internal side's."""
    warehouse = (line.destination if line.destination.is_internal else line.source).warehouse_id
    assert warehouse is not None  # an internal location belongs to a warehouse
    return (line.item.pk, warehouse)


def _posts_as_set(lines: list[MovementLine]) -> bool:
    """Does this (validated) batch go through ``_post_set``? On PostgreSQL, with
    ``STOCK_POSTING_SETS`` on, ``SET_MIN_LINES`` lines or more, every one handled."""
    return (
        len(lines) >= SET_MIN_LINES
        and connection.vendor == "postgresql"
        and settings.STOCK_POSTING_SETS
        and all(_set_handles(line) for line in lines)
    )


def _table(model: type[models.Model]) -> str:
    return model._meta.db_table


def _match(columns: tuple[str, ...]) -> str:
    """Row ``t`` is key ``k``: equal on every column, a missing lot matching a missing lot (the
    other columns are never NULL, so their indexes serve the join)."""
    return " AND ".join(
        f"t.{column} IS NOT DISTINCT FROM k.{column}" if column == "lot_id" else f"t.{column} = k.{column}"
        for column in columns
    )


def _create_missing(
    model: type[models.Model], columns: tuple[str, ...], keys: list[tuple], initial: dict[str, str]
) -> None:
    """Insert the rows of ``keys`` (already in lock order) that do not exist, in that order,
    before any lock is held: a wait on a concurrent insert of the same row then holds nothing
    the other posting needs. ``initial``: the SQL values of the other columns."""
    arrays = ", ".join("%s::bigint[]" for _ in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(model)} ({', '.join([*columns, *initial])}) "
            f"SELECT {', '.join([*('k.' + c for c in columns), *initial.values()])} "
            f"FROM unnest({arrays}) WITH ORDINALITY AS k({', '.join(columns)}, n) "
            f"WHERE NOT EXISTS (SELECT 1 FROM {_table(model)} t WHERE {_match(columns)}) "
            "ORDER BY k.n ON CONFLICT DO NOTHING",
            [list(column) for column in zip(*keys, strict=True)],
        )


def _lock(
    model: type[models.Model], columns: tuple[str, ...], keys: list[tuple], order_by: str, select: str
) -> list[tuple]:
    """Lock the rows of ``keys`` with ONE ``SELECT ... ORDER BY order_by ... FOR UPDATE``
    (PostgreSQL locks the rows in the sorted order) and return ``select``'s columns."""
    arrays = ", ".join("%s::bigint[]" for _ in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM unnest({arrays}) AS k({', '.join(columns)}) "
            f"JOIN {_table(model)} t ON {_match(columns)} ORDER BY {order_by} FOR UPDATE OF t",
            [list(column) for column in zip(*keys, strict=True)],
        )
        rows = cursor.fetchall()
    if len(rows) != len(keys):
        raise AssertionError(f"rows of {_table(model)} missing after creating them")
    return rows


_LEVEL_COLUMNS, _VALUATION_COLUMNS = ("item_id", "location_id", "lot_id"), ("item_id", "warehouse_id")


def _rows_create(lines: list[MovementLine]) -> tuple[list[LevelKey], list[ValuationKey]]:
    """Create the missing level rows of ``lines`` (both sides) and then their missing valuation
    rows (internal sides), each set in lock order, before any lock is taken (PostgreSQL); return
    both key lists in lock order. The set path always starts so; ``posting._post_movements``
    does it before ``_post`` creates missing rows, so that no posting holds a level lock while
    it waits on another's insert of a valuation row (which would deadlock with the other waiting
    for that level lock)."""
    levels: set[LevelKey] = set()
    valuations: set[ValuationKey] = set()
    for line in lines:
        lot_id = line.lot.pk if line.lot is not None else None
        for location in (line.source, line.destination):
            levels.add((line.item.pk, location.pk, lot_id))
            if location.is_internal and location.warehouse_id is not None:
                valuations.add((line.item.pk, location.warehouse_id))
    level_keys, valuation_keys = sorted(levels, key=_level_order), sorted(valuations)
    _create_missing(
        StockLevel, _LEVEL_COLUMNS, level_keys, {"on_hand": "0", "reserved": "0", "allow_negative": "FALSE"}
    )
    if valuation_keys:
        _create_missing(
            ItemValuation, _VALUATION_COLUMNS, valuation_keys, {"quantity": "0", "value": "0", "last_unit_cost": "0"}
        )
    return level_keys, valuation_keys


def _post_set(
    lines: list[MovementLine],
    *,
    actor: Actor | None,
    idempotency_key: str | None,
    occurred_at: datetime,
) -> list[Movement]:
    """Post validated, authorised ``lines`` (each one ``_set_handles``) as sets inside the
    caller's transaction (``posting._post_movements`` opens a savepoint); refuse a take beyond
    what is available with ``InsufficientStock`` as ``_post`` does; raise ``_Declined`` (having
    written nothing that the savepoint does not roll back) for a batch it does not handle."""
    on_hand: dict[LevelKey, Decimal] = defaultdict(Decimal)
    policies: dict[LevelKey, bool] = {}
    for line in lines:
        lot_id = line.lot.pk if line.lot is not None else None
        for location, sign in ((line.source, -1), (line.destination, 1)):
            key = (line.item.pk, location.pk, lot_id)
            on_hand[key] += sign * line.quantity
            policies[key] = _level_policy(location)
    level_keys, valuation_keys = _rows_create(lines)
    levels = {
        (item, location, lot): (pk, _number(held), _number(reserved))
        for pk, item, location, lot, held, reserved in _lock(
            StockLevel,
            _LEVEL_COLUMNS,
            level_keys,
            "t.lot_id IS NOT NULL, t.item_id, t.location_id, t.lot_id",
            "t.id, t.item_id, t.location_id, t.lot_id, t.on_hand, t.reserved",
        )
    }
    valuations: dict[ValuationKey, ItemValuation] = {
        (item, warehouse): ItemValuation(
            id=pk,
            item_id=item,
            warehouse_id=warehouse,
            quantity=_number(quantity),
            value=_number(value),
            last_unit_cost=_number(last),
        )
        for pk, item, warehouse, quantity, value, last in _lock(
            ItemValuation,
            _VALUATION_COLUMNS,
            valuation_keys,
            "t.item_id, t.warehouse_id",
            "t.id, t.item_id, t.warehouse_id, t.quantity, t.value, t.last_unit_cost",
        )
    }
    _decline_unhandled(lines, valuations)
    _refuse_short(lines, on_hand, policies, levels)

    costs: list[Decimal] = []
    layers: list[tuple[int, int, Decimal, Decimal, Decimal]] = []  # (line index, warehouse, unit cost, quantity, value)
    for index, line in enumerate(lines):
        valuation = valuations[_pool(line)]
        if not line.destination.is_internal:  # out of the pool at its average (``costing._average_take``)
            if valuation.quantity < line.quantity:  # it would go negative: costing's rule, ``_post``'s path
                raise _Declined("a pool would go negative")
            cost = _average_share(line.quantity, valuation)
            valuation.quantity -= line.quantity
            valuation.value -= cost
            costs.append(cost)
            continue
        if valuation.quantity < 0:  # an earlier line of the batch took it below zero
            raise _Declined("a receipt into a negative pool")
        if line.total_cost is not None:
            cost = line.total_cost
        else:
            unit = line.unit_cost if line.unit_cost is not None else _current_unit_cost(valuation, line.item)
            cost = (line.quantity * unit).quantize(MONEY_STEP)
        unit_cost = (cost / line.quantity).quantize(MONEY_STEP)
        if line.item.valuation_method == ValuationMethod.FIFO:
            layers.append((index, valuation.warehouse_id, unit_cost, line.quantity, cost))
        valuation.quantity += line.quantity
        valuation.value += cost
        valuation.last_unit_cost = unit_cost
        costs.append(cost)

    now, batch = timezone.now(), uuid.uuid4()
    movements = [
        _movement(
            line,
            batch=batch,
            number=number,
            unit_cost=(cost / line.quantity).quantize(MONEY_STEP),
            total_cost=cost,
            actor=actor,
            occurred_at=occurred_at,
            posted_at=now,
            idempotency_key=idempotency_key if number == 1 else None,
        )
        for number, (line, cost) in enumerate(zip(lines, costs, strict=True), start=1)
    ]
    _insert_movements_set(movements)
    # Same flags as ``_post``: the policy, or a level still below zero (it was negative already).
    changes = [(levels[key][0], delta, policies[key] or levels[key][1] + delta < 0) for key, delta in on_hand.items()]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(StockLevel)} t SET on_hand = t.on_hand + d.delta, allow_negative = d.allow_negative "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::boolean[]) AS d(id, delta, allow_negative) WHERE t.id = d.id",
            [list(column) for column in zip(*changes, strict=True)],
        )
        cursor.execute(
            f"UPDATE {_table(ItemValuation)} t SET quantity = d.quantity, value = d.value, last_unit_cost = d.last "
            "FROM unnest(%s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[]) AS d(id, quantity, value, last) "
            "WHERE t.id = d.id",
            [
                [v.pk for v in valuations.values()],
                [v.quantity for v in valuations.values()],
                [v.value for v in valuations.values()],
                [v.last_unit_cost for v in valuations.values()],
            ],
        )
        if layers:
            # Layers in line order (ids ascending like ``costing._save_costings``' bulk_create),
            # received when their movement happened, nothing of them consumed yet.
            cursor.execute(
                f"INSERT INTO {_table(CostLayer)} (item_id, warehouse_id, movement_id, received_at, unit_cost, "
                "quantity, remaining_quantity, remaining_value) "
                "SELECT d.item_id, d.warehouse_id, d.movement_id, %s, d.unit_cost, d.quantity, d.quantity, d.value "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[]) "
                "WITH ORDINALITY AS d(item_id, warehouse_id, movement_id, unit_cost, quantity, value, n) ORDER BY d.n",
                [
                    occurred_at,
                    [lines[index].item.pk for index, *_ in layers],
                    [warehouse for _, warehouse, *_ in layers],
                    [movements[index].pk for index, *_ in layers],
                    [unit for _, _, unit, _, _ in layers],
                    [quantity for *_, quantity, _ in layers],
                    [value for *_, value in layers],
                ],
            )
    return movements


def _decline_unhandled(lines: list[MovementLine], valuations: dict[ValuationKey, ItemValuation]) -> None:
    """Raise ``_Declined`` (under the locks, which guard what is read) for a negative pool or
    an open negative cost layer: a FIFO layer or, under either method, a shortfall not yet
    settled (``shortfalls``' negative-stock rule alone prices those)."""
    if any(valuation.quantity < 0 for valuation in valuations.values()):
        raise _Declined("a valuation pool is negative")
    fifo = sorted({_pool(line) for line in lines})
    if fifo:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::bigint[]) AS k(item_id, warehouse_id) "
                f"JOIN {_table(CostLayer)} t ON t.item_id = k.item_id AND t.warehouse_id = k.warehouse_id "
                "AND t.remaining_quantity < 0)",
                [[item for item, _ in fifo], [warehouse for _, warehouse in fifo]],
            )
            if cursor.fetchone()[0]:
                raise _Declined("an open negative cost layer")


def _refuse_short(
    lines: list[MovementLine],
    on_hand: dict[LevelKey, Decimal],
    policies: dict[LevelKey, bool],
    levels: dict[LevelKey, tuple[int, Decimal, Decimal]],
) -> None:
    """``_post``'s availability rule on the locked levels, in the same order (its ``_Deltas``
    lists each line's source, then its destination): a level the batch takes from may not end
    below what is reserved there, nor below zero unless its location allows negative stock;
    the first that would raises ``InsufficientStock`` naming what was available."""
    for key, delta in on_hand.items():
        _, held, reserved = levels[key]
        if delta < 0 and held + delta - reserved < 0 and (reserved > 0 or not policies[key]):
            line = next(line for line in lines if (line.item.pk, line.source.pk, line.lot and line.lot.pk) == key)
            raise InsufficientStock(
                item=line.item, location=line.source, lot=line.lot, asked=-delta, available=held - reserved
            )


_MOVEMENT_FIELDS = [f for f in Movement._meta.concrete_fields if not f.primary_key]


def _insert_movements_set(movements: list[Movement]) -> None:
    """One ``INSERT ... SELECT ... FROM unnest`` of every column, in batch-line order; the
    instances get their ids (matched by ``batch_line``)."""
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in _MOVEMENT_FIELDS)
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in _MOVEMENT_FIELDS)
    names = ", ".join(f"c{n}" for n in range(len(_MOVEMENT_FIELDS)))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(Movement)} ({columns}) SELECT {names} FROM unnest({arrays}) "
            f"WITH ORDINALITY AS d({names}, n) ORDER BY d.n RETURNING id, batch_line",
            [[getattr(m, f.attname) for m in movements] for f in _MOVEMENT_FIELDS],
        )
        ids = {line: pk for pk, line in cursor.fetchall()}
    for movement in movements:
        _mark_saved(movement, ids[movement.batch_line])

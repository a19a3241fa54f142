"""Rows of the ledger in plain SQL: locking levels and valuations in the one fixed order
(``_level_order``, then (item, warehouse)), creating missing rows before any lock, and writing
movements, level changes, reserved quantities, valuations and FIFO layers' remains. The
services' private write path: the ledger models' managers refuse ``update()`` and ``delete()``
(``stock.models.LedgerQuerySet``), so every change of those rows goes through here (new FIFO
layers and consumptions are inserted by ``costing._save_costings``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from django.db import connection, models

from common.actors import Actor

from ..models import (
    QTY_STEP,
    ZERO,
    CostLayer,
    ItemValuation,
    Movement,
    StockLevel,
)
from .lines import LevelKey, MovementLine, ValuationKey

Row = TypeVar("Row", bound=models.Model)


def _for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def _level_order(key: LevelKey) -> tuple:
    """The one lock order of stock levels: rows without lot first, then rows with a lot, each
    by (item, location, lot). Every path that locks levels follows it."""
    return (key[2] is not None, key[0], key[1], key[2] or 0)


def _number(value: object) -> Decimal:
    """A numeric column as Decimal (SQLite hands back floats or ints)."""
    return value if isinstance(value, Decimal) else Decimal(repr(value)).quantize(QTY_STEP)


class _MissingRows(Exception):
    """The fast path found a level or valuation row missing: roll back and post again,
    creating rows first (``create_missing``)."""


def _lock_rows(
    model: type[Row],
    columns: tuple[str, ...],
    keys: list[tuple],
    *,
    order_by: str,
    create_missing: bool,
    initial: dict[str, str],
) -> list[Row]:
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


def _layers_save(layers: Iterable[CostLayer]) -> None:
    """Write the remaining quantity and value, and the unit cost (which value-only entries
    change), of FIFO layers (locked by their valuation)."""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {CostLayer._meta.db_table} SET remaining_quantity = %s, remaining_value = %s, unit_cost = %s "
            "WHERE id = %s",
            [(layer.remaining_quantity, layer.remaining_value, layer.unit_cost, layer.pk) for layer in layers],
        )


def _valuations_save(valuations: Iterable[ItemValuation]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {ItemValuation._meta.db_table} SET quantity = %s, value = %s, last_unit_cost = %s WHERE id = %s",
            [(v.quantity, v.value, v.last_unit_cost, v.pk) for v in valuations],
        )


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


def _levels_change_reserved(changes: dict[LevelKey, Decimal]) -> dict[LevelKey, StockLevel]:
    """Lock the levels (in order) and add ``changes`` to their ``reserved``."""
    levels = _lock_levels(changes.keys())
    rows = [(delta, levels[key].pk) for key, delta in changes.items() if delta]
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {StockLevel._meta.db_table} SET reserved = reserved + %s WHERE id = %s", rows)
    return levels


def _movement(
    line: MovementLine,
    *,
    batch: uuid.UUID,
    number: int,
    unit_cost: Decimal,
    total_cost: Decimal,
    actor: Actor | None,
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
        "origin_id": line.origin.pk if line.origin is not None else None,
    }
    # Positional, in field order: the fast constructor (the dict above names every value).
    movement = Movement(*[values[name] for name in _MOVEMENT_ATTNAMES])  # type: ignore[misc]
    movement._state.fields_cache.update(
        item=line.item,
        lot=line.lot,
        source=line.source,
        destination=line.destination,
        actor=actor,
        reverses=line.reverses,
        origin=line.origin,
    )
    return movement


def _value_movements(
    lines: list[MovementLine],
    *,
    batch: uuid.UUID,
    start: int,
    actor: Actor | None,
    occurred_at: datetime,
    posted_at: datetime,
    idempotency_key: str | None,
) -> list[Movement]:
    """The (not yet saved) value-only movements of ``lines`` (quantity 0, ``total_cost`` as the
    line says), numbered from ``start`` in ``batch``; the key goes on line 1 only."""
    return [
        _movement(
            line,
            batch=batch,
            number=number,
            unit_cost=ZERO,
            total_cost=line.total_cost if line.total_cost is not None else ZERO,  # every entry names its value
            actor=actor,
            occurred_at=occurred_at,
            posted_at=posted_at,
            idempotency_key=idempotency_key if number == 1 else None,
        )
        for number, line in enumerate(lines, start=start)
    ]


_MOVEMENT_ATTNAMES = [field.attname for field in Movement._meta.concrete_fields]


def _insert_movements(movements: list[Movement]) -> None:
    """One INSERT ... RETURNING id for the batch; the instances get their ids."""
    fields = [f for f in Movement._meta.concrete_fields if not f.primary_key]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    params = [f.get_db_prep_save(getattr(m, f.attname), connection) for m in movements for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Movement._meta.db_table} ({columns}) "
            f"VALUES {', '.join([row] * len(movements))} RETURNING id",
            params,
        )
        for movement, (pk,) in zip(movements, cursor.fetchall(), strict=True):
            _mark_saved(movement, pk)


def _mark_saved(movement: Movement, pk: int) -> None:
    """Make an instance written by raw SQL look as if ``save()`` had written it."""
    movement.pk = pk
    movement._state.adding = False
    movement._state.db = connection.alias

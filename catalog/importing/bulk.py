"""Batched writes of master-data rows *with their history records*, for the import commands.

Rows are plain dicts (model attribute -> value, every concrete field). On PostgreSQL the rows
and their ``simple_history`` records go in with ``COPY`` (ids reserved from the table's
sequence first, so the history rows can name them) and updates go through a temporary table
and one ``UPDATE ... FROM``: this is what makes a 100,000-row import take seconds, not
minutes. On other databases (SQLite) the same rows go through simple_history's
``bulk_create_with_history`` / ``bulk_update_with_history``. Either way each written row gets
one history record (``+`` created, ``~`` changed) with the actor, the date and the reason, as
``save()`` would have written it; ``tests/imports`` checks that the two paths write the same.

Table and column names come from model ``_meta``; values are always parameters or COPY data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, models
from simple_history.utils import bulk_create_with_history, bulk_update_with_history, get_history_model_for_model


def fast_path() -> bool:
    return connection.vendor == "postgresql"


def defaults_of(model: type[models.Model]) -> dict[str, Any]:
    """Every concrete field's default (what ``model()`` would hold), by attribute name."""
    return {f.attname: f.get_default() for f in model._meta.concrete_fields if not f.primary_key}


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _reserve_ids(model: type[models.Model], count: int) -> list[int]:
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, count])
        return [row[0] for row in cursor.fetchall()]


def _values(fields: list[models.Field], rows: list[dict[str, Any]]) -> list[tuple]:
    """Each row's values in the order of ``fields``."""
    attnames = [f.attname for f in fields]
    return [tuple([row[a] for a in attnames]) for row in rows]


# Django column types -> the names psycopg's binary COPY knows them by.
_BINARY_TYPES = {
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "boolean": "bool",
    "timestamp with time zone": "timestamptz",
    "date": "date",
    "varchar": "varchar",
    "numeric": "numeric",
    "text": "text",
    "uuid": "uuid",
}


def _binary_type(field: models.Field) -> str:
    return _BINARY_TYPES[field.db_type(connection).split("(")[0].strip()]


def _copy(table: str, fields: list[models.Field], rows: list[tuple]) -> None:
    """``COPY table (columns) FROM STDIN`` in PostgreSQL's binary format (cheaper to build and
    to parse than text), values adapted by psycopg's C dumpers."""
    columns = ", ".join(_quote(f.column) for f in fields)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {_quote(table)} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types([_binary_type(f) for f in fields])
        for row in rows:
            copy.write_row(row)


def _copy_history(
    model: type[models.Model],
    fields: list[models.Field],
    values: list[tuple],
    kind: str,
    user: Any,
    reason: str,
    when: datetime,
) -> None:
    """One history record per row, built from the rows' values (the history table holds the
    same fields, plus when, why, how and who)."""
    history = get_history_model_for_model(model)
    position = {f.attname: i for i, f in enumerate(fields)}
    special = {
        "history_date": when,
        "history_change_reason": reason,
        "history_type": kind,
        "history_user_id": getattr(user, "pk", None),
    }
    columns, plan = [], []
    for f in history._meta.concrete_fields:
        if f.attname == "history_id":
            continue
        columns.append(f)
        plan.append((None, special[f.attname]) if f.attname in special else (position[f.attname], None))
    _copy(
        history._meta.db_table,
        columns,
        [tuple([row[i] if i is not None else const for i, const in plan]) for row in values],
    )


def insert_with_history(
    model: type[models.Model], rows: list[dict[str, Any]], *, user: Any, reason: str, when: datetime
) -> list[int]:
    """Insert ``rows`` (dicts without ``id``; each gets its new id set) and one ``+`` history
    record each. Returns the new ids in order."""
    if not rows:
        return []
    pk = model._meta.pk.attname
    if not fast_path():
        objs = bulk_create_with_history(
            [model(**row) for row in rows],
            model,
            batch_size=500,
            default_user=user,
            default_change_reason=reason,
            default_date=when,
        )
        for row, obj in zip(rows, objs, strict=True):
            row[pk] = obj.pk
        return [obj.pk for obj in objs]
    for row, new_id in zip(rows, _reserve_ids(model, len(rows)), strict=True):
        row[pk] = new_id
    fields = list(model._meta.concrete_fields)
    values = _values(fields, rows)
    _copy(model._meta.db_table, fields, values)
    _copy_history(model, fields, values, "+", user, reason, when)
    return [row[pk] for row in rows]


def update_with_history(
    model: type[models.Model],
    rows: list[dict[str, Any]],
    fields: set[str],
    *,
    user: Any,
    reason: str,
    when: datetime,
) -> None:
    """Update ``fields`` of the rows (complete dicts with ``id``) and write one ``~`` history
    record each holding the row as it now is."""
    if not rows:
        return
    if not fast_path():
        bulk_update_with_history(
            [model(**row) for row in rows],
            model,
            sorted(fields),
            batch_size=500,
            default_user=user,
            default_change_reason=reason,
            default_date=when,
        )
        return
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    pk = model._meta.pk
    changed = [by_attname[name] for name in sorted(fields)]
    columns = [pk, *changed]
    table = model._meta.db_table
    scratch = f"import_{table}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_quote(scratch)} ON COMMIT DROP AS "  # noqa: S608 - names from _meta
            f"SELECT {', '.join(_quote(f.column) for f in columns)} FROM {_quote(table)} WITH NO DATA"
        )
    _copy(scratch, columns, _values(columns, rows))
    assignments = ", ".join(f"{_quote(f.column)} = s.{_quote(f.column)}" for f in changed)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_quote(table)} AS t SET {assignments} FROM {_quote(scratch)} AS s "  # noqa: S608
            f"WHERE t.{_quote(pk.column)} = s.{_quote(pk.column)}"
        )
        cursor.execute(f"DROP TABLE {_quote(scratch)}")
    every = list(model._meta.concrete_fields)
    _copy_history(model, every, _values(every, rows), "~", user, reason, when)

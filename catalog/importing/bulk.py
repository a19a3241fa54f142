"""Batched writes of master-data rows *with their history records*, for the import commands.

Rows are plain dicts (model attribute -> value). Each written row gets one ``simple_history``
record (``+`` created, ``~`` changed) with the actor, the date and the reason, as ``save()``
would have written it; ``tests/imports`` checks that the two paths below write the same.

- **PostgreSQL** (``recordset``, ``history_insert``, ``PipelinedWriter``): a batch is *one*
  statement. The rows travel as one JSON document per kind (``jsonb_to_recordset``);
  data-modifying CTEs insert or update them and write their history records from what the
  statement itself returned (``RETURNING``), so no row crosses the network twice and Python
  never builds a history row. The statement is sent in pipeline mode, in the same
  transaction and inside its own savepoint, and the import parses the next batch while the
  server writes this one: the server's work (rows, index entries, foreign keys, history) and
  Python's (reading and checking cells) overlap on two cores.
- **Other databases** (SQLite): simple_history's ``bulk_create_with_history`` /
  ``bulk_update_with_history``.

Table and column names come from model ``_meta``; values are always parameters.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from django.db import connection, models
from simple_history.utils import bulk_create_with_history, bulk_update_with_history, get_history_model_for_model


def fast_path() -> bool:
    return connection.vendor == "postgresql"


def defaults_of(model: type[models.Model]) -> dict[str, Any]:
    """Every concrete field's default (what ``model()`` would hold), by attribute name."""
    return {f.attname: f.get_default() for f in model._meta.concrete_fields if not f.primary_key}


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _fields(model: type[models.Model], attnames: list[str]) -> list[models.Field]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    return [by_attname[a] for a in attnames]


def recordset(model: type[models.Model], attnames: list[str], param: str) -> str:
    """``jsonb_to_recordset(param) AS r(column type, ...)``: the JSON array of objects (keys are
    column names, see ``json_rows``) as rows typed like the model's columns."""
    columns = ", ".join(f"{_quote(f.column)} {f.db_type(connection)}" for f in _fields(model, attnames))
    return f"jsonb_to_recordset({param}::jsonb) AS r({columns})"


def json_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON array for ``recordset``: keys are column names (for the models
    imported this way, attribute names are column names) and keys ``recordset`` does not name
    are ignored; decimals and dates as their text (exact: PostgreSQL reads them with the
    column's type)."""
    return json.dumps(rows, default=str, separators=(",", ":"))


def history_insert(model: type[models.Model], source: str, kind: str) -> str:
    """``INSERT INTO <history table> ... SELECT ... FROM source``: one history record of type
    ``kind`` per row of ``source`` (a CTE returning the model's columns), stamped with the
    parameters ``%(when)s``, ``%(reason)s`` and ``%(user)s``."""
    history = get_history_model_for_model(model)
    special = {
        "history_date": "%(when)s",
        "history_change_reason": "%(reason)s",
        "history_type": f"'{kind}'",
        "history_user_id": "%(user)s",
    }
    fields = [f for f in history._meta.concrete_fields if f.attname != "history_id"]
    columns = ", ".join(_quote(f.column) for f in fields)
    values = ", ".join(special.get(f.attname) or f"{source}.{_quote(f.column)}" for f in fields)
    return f"INSERT INTO {_quote(history._meta.db_table)} ({columns}) SELECT {values} FROM {source}"  # noqa: S608


class PipelinedWriter:
    """Sends one statement at a time on the current connection (same transaction) in
    psycopg's pipeline mode and returns at once: the server runs the statement while the
    caller goes on parsing, with no thread and no wait. ``wait()`` collects the result; the
    caller must call it before it uses the connection again. It returns ``(label, error)`` of
    a refused statement, or None.

    The statement runs inside its own savepoint, rolled back when refused, so the transaction
    stays usable (the caller goes on checking rows). Foreign keys are checked at the end of
    the statement (``SET CONSTRAINTS ALL IMMEDIATE``), while the caller parses, rather than
    all at once at commit (Django makes them deferred), and a refusal names the batch."""

    _SAVEPOINT = "import_batch"

    def __init__(self) -> None:
        self._pipeline: Any = None
        self._cursor: Any = None
        self._label = ""
        self._failure: Exception | None = None

    def submit(self, label: str, sql: str, params: dict[str, Any]) -> None:
        if self._pipeline is not None:
            raise RuntimeError("wait() for the previous statement before submitting another one")
        raw = connection.connection  # psycopg's connection, inside the caller's transaction
        self._label, self._failure = label, None
        self._pipeline = raw.pipeline()
        self._pipeline.__enter__()
        self._cursor = raw.cursor()
        try:
            for statement, arguments in (
                (f"SAVEPOINT {self._SAVEPOINT}", None),
                ("SET CONSTRAINTS ALL IMMEDIATE", None),
                (sql, params),
                ("SET CONSTRAINTS ALL DEFERRED", None),
                (f"RELEASE SAVEPOINT {self._SAVEPOINT}", None),
            ):
                self._cursor.execute(statement, arguments)
        except psycopg.Error as exc:  # a result already back says no; wait() cleans up
            self._failure = exc

    def wait(self) -> tuple[str, Exception] | None:
        if self._pipeline is None:
            return None
        pipeline, self._pipeline = self._pipeline, None
        try:
            pipeline.__exit__(None, None, None)  # sync: every result, the first error raised
        except psycopg.Error as exc:
            self._failure = self._failure or exc
        finally:
            self._cursor.close()
        if self._failure is None:
            return None
        with connection.connection.cursor() as cursor:
            cursor.execute(f"ROLLBACK TO SAVEPOINT {self._SAVEPOINT}")
            cursor.execute(f"RELEASE SAVEPOINT {self._SAVEPOINT}")
        return self._label, self._failure


def insert_with_history(
    model: type[models.Model], rows: list[dict[str, Any]], *, user: Any, reason: str, when: datetime
) -> list[int]:
    """Other databases than PostgreSQL: insert ``rows`` (dicts without ``id``; each gets its new
    id set) and one ``+`` history record each. Returns the new ids in order."""
    if not rows:
        return []
    pk = model._meta.pk.attname
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


def update_with_history(
    model: type[models.Model],
    rows: list[dict[str, Any]],
    fields: set[str],
    *,
    user: Any,
    reason: str,
    when: datetime,
) -> None:
    """Other databases than PostgreSQL: update ``fields`` of the rows (complete dicts with
    ``id``) and write one ``~`` history record each holding the row as it now is."""
    if rows:
        bulk_update_with_history(
            [model(**row) for row in rows],
            model,
            sorted(fields),
            batch_size=500,
            default_user=user,
            default_change_reason=reason,
            default_date=when,
        )

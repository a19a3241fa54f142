"""Model rows from plain SQL, for the few read queries that run on every API write.

Building and compiling a queryset costs more Python than the query costs the database: an
item look-up by SKU took about 500 µs of CPU through the ORM and 100 µs as the same SQL
(docs/api.md, "Where a sale's time goes"). ``ModelRows`` keeps what the ORM would do with the
row (the database's converters, ``Model.from_db``) and leaves out the query building; the SQL
itself is written once, beside the selector that owns the rule it reads.

Invariants: the columns are the model's concrete fields in field order (``columns``), values
pass through the same converters the ORM applies (so SQLite's decimals, dates and booleans come
back as the ORM gives them), and the instances are "from the database" (``_state.adding`` false).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils.functional import cached_property

M = TypeVar("M", bound=models.Model)


class ModelRows(Generic[M]):
    """Reads rows of ``model`` selected with ``columns(alias)`` into instances."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._converters: dict[str, list[tuple[int, list, Any]]] = {}
        self._columns: dict[tuple[str, str], str] = {}

    @cached_property
    def fields(self) -> list[models.Field]:
        """Read on first use, once the app registry is complete (not at import)."""
        return list(self.model._meta.concrete_fields)

    @cached_property
    def attnames(self) -> list[str]:
        return [field.attname for field in self.fields]

    def columns(self, alias: str) -> str:
        """The SELECT list of every concrete column, ``alias.column`` in field order."""
        key = (connection.vendor, alias)
        if key not in self._columns:
            quote = connection.ops.quote_name
            self._columns[key] = ", ".join(f"{alias}.{quote(field.column)}" for field in self.fields)
        return self._columns[key]

    @cached_property
    def width(self) -> int:
        return len(self.fields)

    def _converters_here(self, here: Any = None) -> list[tuple[int, list, Any]]:
        here = here or connection
        vendor = here.vendor
        if vendor not in self._converters:
            found = []
            for index, field in enumerate(self.fields):
                expression = field.get_col(self.model._meta.db_table)
                converters = here.ops.get_db_converters(expression) + field.get_db_converters(here)
                if converters:
                    found.append((index, converters, expression))
            self._converters[vendor] = found
        return self._converters[vendor]

    def value(self, attname: str, value: Any) -> Any:
        """``value`` read from the database (a column, or a SUM of one) as the ORM gives the
        field ``attname``: a Decimal for a decimal column also on SQLite."""
        index = self.attnames.index(attname)
        for position, converters, expression in self._converters_here():
            if position == index:
                for converter in converters:
                    value = converter(value, expression, connection)
        return value

    @cached_property
    def _plain(self) -> bool:
        """The model keeps Django's own ``from_db`` (so ``instance`` may build it the same way)."""
        return self.model.from_db.__func__ is models.Model.from_db.__func__  # type: ignore[attr-defined]

    def instance(self, row: Sequence[Any], start: int = 0) -> M:
        """The instance whose columns begin at ``row[start]``: what ``Model.from_db`` gives. When
        nothing listens to the model's ``pre_init``/``post_init`` signals and ``from_db`` is
        Django's own, the instance is filled directly (``__init__``'s per-field work for a
        fresh row is setting each attribute, about 3 µs a row more; these run on every sale)."""
        here = connections[DEFAULT_DB_ALIAS]  # the thread's connection, looked up once
        values = list(row[start : start + len(self.attnames)])
        for index, converters, expression in self._converters_here(here):
            for converter in converters:
                values[index] = converter(values[index], expression, here)
        model = self.model
        if not self._plain or pre_init.has_listeners(model) or post_init.has_listeners(model):
            return model.from_db(here.alias, self.attnames, values)
        instance = model.__new__(model)
        instance.__dict__.update(zip(self.attnames, values, strict=True))
        state = instance._state = ModelState()
        state.adding, state.db = False, here.alias
        return instance


def fetch_rows(sql: str, params: Sequence[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()

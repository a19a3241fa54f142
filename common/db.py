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

from django.db import connection, models
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

    @property
    def width(self) -> int:
        return len(self.fields)

    def _converters_here(self) -> list[tuple[int, list, Any]]:
        vendor = connection.vendor
        if vendor not in self._converters:
            found = []
            for index, field in enumerate(self.fields):
                expression = field.get_col(self.model._meta.db_table)
                converters = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
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

    def instance(self, row: Sequence[Any], start: int = 0) -> M:
        """The instance whose columns begin at ``row[start]``."""
        values = list(row[start : start + self.width])
        for index, converters, expression in self._converters_here():
            for converter in converters:
                values[index] = converter(values[index], expression, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


def fetch_rows(sql: str, params: Sequence[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()

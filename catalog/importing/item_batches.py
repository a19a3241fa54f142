"""Items, a batch at a time in the database: what a batch looks up (existing items by SKU,
existing barcodes' owners) and, on PostgreSQL, the one statement that writes it
(``item_batch_statement``, sent by ``items.ItemsJob`` through ``bulk.PipelinedWriter``).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models.functions import Lower

from catalog.models import Barcode, Item

from . import bulk


def _in_clause(column: str, values: list[Any]) -> tuple[str, list[Any]]:
    if connection.vendor == "postgresql":  # the list as one JSON text: psycopg adapts it in C
        return f"{column} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))", [json.dumps(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def barcode_owners_for(codes: list[str]) -> dict[str, tuple[int, str]]:
    """Which of ``codes`` exist already: code -> (item id, SKU)."""
    if not codes:
        return {}
    where, params = _in_clause("b.code", codes)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.code, b.item_id, i.sku FROM {Barcode._meta.db_table} b "  # noqa: S608 - names from _meta
            f"JOIN {Item._meta.db_table} i ON i.id = b.item_id WHERE {where}",
            params,
        )
        return {code: (item_id, sku) for code, item_id, sku in cursor.fetchall()}


def items_by_key(keys: list[str]) -> dict[str, dict[str, Any]]:
    """Existing items whose SKU, lower-cased, is one of ``keys``: their fields (by attribute
    name), by key. Uses the unique index on ``Lower(sku)``. On PostgreSQL the timestamps are
    left out (the batch statement sets and returns them itself; loading aware datetimes was a
    fifth of an unchanged import's time)."""
    if not keys:
        return {}
    if bulk.fast_path():
        attnames = _LOOKUP_FIELDS
        where, params = _in_clause("lower(sku)", list(set(keys)))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(attnames)} FROM {Item._meta.db_table} WHERE {where}", params)  # noqa: S608
            rows = [dict(zip(attnames, row, strict=True)) for row in cursor.fetchall()]
    else:
        rows = list(
            Item.objects.annotate(_sku_lower=Lower("sku")).filter(_sku_lower__in=set(keys)).values(*ITEM_FIELDS)
        )
    return {row["sku"].lower(): row for row in rows}


ITEM_FIELDS = tuple(f.attname for f in Item._meta.concrete_fields)
_TIMESTAMPS = ("created_at", "updated_at")
_LOOKUP_FIELDS = tuple(a for a in ITEM_FIELDS if a not in _TIMESTAMPS)
_NEW_FIELDS = [a for a in _LOOKUP_FIELDS if a != "id"]


def _quoted(attnames: list[str]) -> str:
    return ", ".join(connection.ops.quote_name(a) for a in attnames)


def item_batch_statement(changed: list[str]) -> str:
    """The one statement that writes a batch of the command on PostgreSQL (``bulk``): new items
    (``%(new)s``), changes of existing ones (``%(changed)s``: ``id`` and the ``changed``
    attributes) and new barcodes (``%(codes)s``: a new item's by its SKU, an existing item's by
    its id), each with its history record. Attribute names are column names for these models."""
    item, barcode = Item._meta.db_table, Barcode._meta.db_table
    parts = [
        f"new_src AS (SELECT * FROM {bulk.recordset(Item, _NEW_FIELDS, '%(new)s')})",  # noqa: S608
        f"new_rows AS (INSERT INTO {item} ({_quoted(_NEW_FIELDS)}, created_at, updated_at) "  # noqa: S608
        f"SELECT {_quoted(_NEW_FIELDS)}, %(when)s, %(when)s FROM new_src RETURNING *)",
        f"new_history AS ({bulk.history_insert(Item, 'new_rows', '+')})",
    ]
    if changed:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(a)} = changed_src.{quote(a)}" for a in changed)
        parts += [
            f"changed_src AS (SELECT * FROM {bulk.recordset(Item, ['id', *changed], '%(changed)s')})",  # noqa: S608
            f"changed_rows AS (UPDATE {item} AS t SET {assignments}, updated_at = %(when)s "  # noqa: S608
            "FROM changed_src WHERE t.id = changed_src.id RETURNING t.*)",
            f"changed_history AS ({bulk.history_insert(Item, 'changed_rows', '~')})",
        ]
    parts += [
        "code_src AS (SELECT * FROM jsonb_to_recordset(%(codes)s::jsonb) "
        "AS r(item_id bigint, sku varchar(64), code varchar(64), kind varchar(10)))",
        f"code_rows AS (INSERT INTO {barcode} (item_id, code, kind) "  # noqa: S608
        "SELECT coalesce(code_src.item_id, new_rows.id), code_src.code, code_src.kind "
        "FROM code_src LEFT JOIN new_rows ON new_rows.sku = code_src.sku RETURNING *)",
    ]
    return f"WITH {', '.join(parts)} {bulk.history_insert(Barcode, 'code_rows', '+')}"

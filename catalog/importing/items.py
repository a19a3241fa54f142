"""Items: the columns, the one per-row parser that both the admin import and the
``import_items`` command use, the state checks against the item as it is now, the batched
writer of the command, and the export row.

Semantics (docs/imports.md): a row whose SKU exists (ignoring case) updates that item, any
other row creates one. An empty cell, or a column the file does not have, changes nothing on
an existing item and takes the default on a new one (unit ``each``, status active, tracking
none, valuation method from the category). Barcodes in the ``barcodes`` cell are added; an
import never deletes an item or a barcode.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.freezing import item_frozen_errors, item_frozen_fields_changed
from catalog.models import (
    PATH_SEPARATOR,
    Barcode,
    BarcodeKind,
    Category,
    Item,
    ItemStatus,
    Tracking,
    UnitOfMeasure,
    ValuationMethod,
    normalize_code,
    normalize_sku,
    validate_gtin,
)
from catalog.services import category_save

from . import bulk, cells
from .cells import CellError
from .runner import ImportJob, RowError

ITEM_COLUMNS = (
    "sku",
    "name",
    "description",
    "category",
    "unit",
    "purchase_unit",
    "purchase_factor",
    "barcodes",
    "status",
    "tracking",
    "perishable",
    "shelf_life_days",
    "standard_cost",
    "valuation_method",
    "weight_kg",
)
BARCODE_SEPARATOR = "|"
DEFAULT_UNIT = "each"
# Model attribute -> column, to name the column in errors that come from the model.
COLUMN_OF = {
    "sku": "sku",
    "name": "name",
    "description": "description",
    "category": "category",
    "category_id": "category",
    "base_unit": "unit",
    "base_unit_id": "unit",
    "purchase_unit": "purchase_unit",
    "purchase_unit_id": "purchase_unit",
    "purchase_factor": "purchase_factor",
    "sales_factor": "purchase_factor",
    "status": "status",
    "discontinued_on": "status",
    "tracking": "tracking",
    "perishable": "perishable",
    "shelf_life_days": "shelf_life_days",
    "standard_cost": "standard_cost",
    "valuation_method": "valuation_method",
    "weight_kg": "weight_kg",
    "code": "barcodes",
}
_STATUS = {"active": ItemStatus.ACTIVE, "discontinued": ItemStatus.DISCONTINUED}
_TRACKING = {"none": Tracking.NONE, "lot": Tracking.LOT, "serial": Tracking.SERIAL}
_ZERO = Decimal(0)
_VALUATION = {
    "average": ValuationMethod.MOVING_AVERAGE,
    "moving average": ValuationMethod.MOVING_AVERAGE,
    "fifo": ValuationMethod.FIFO,
}


def category_path_normalize(value: str) -> str:
    """``Home>Kitchen >  Knives`` -> ``Home > Kitchen > Knives``; CellError on an empty part, a
    name longer than 120 characters or a path longer than its column."""
    parts = [part.strip() for part in value.split(">")]
    if any(not part for part in parts):
        raise CellError(f"{value!r} has an empty part: write a path like Home > Kitchen > Knives.")
    for part in parts:
        if len(part) > 120:
            raise CellError(f"the category name {part[:30]!r}... is longer than 120 characters.")
    path = PATH_SEPARATOR.join(parts)
    limit = Category._meta.get_field("path").max_length  # the stored path, checked before the database
    if len(path) > limit:
        raise CellError(f"the path is {len(path)} characters long; at most {limit} fit (use fewer or shorter names).")
    return path


class ItemRefs:
    """What rows refer to, loaded once per import: units and categories (by path, ignoring
    case). With ``create_categories`` a missing category path is created (through
    ``category_save``, with ``actor`` in its history); otherwise it is an error."""

    def __init__(self, *, create_categories: bool = False, actor: Any = None) -> None:
        self.create_categories = create_categories
        self.actor = actor
        units = list(UnitOfMeasure.objects.all())
        self.units_by_id = {u.pk: u for u in units}
        self.units: dict[str, UnitOfMeasure] = {}
        for unit in sorted(units, key=lambda u: u.code != u.code.casefold()):
            self.units.setdefault(unit.code.casefold(), unit)
        self.units.update({u.code: u for u in units})
        self.item_defaults = {a: v for a, v in bulk.defaults_of(Item).items() if a not in ("created_at", "updated_at")}
        self.barcode_defaults = bulk.defaults_of(Barcode)
        self.parsers = _cell_parsers(self)
        self.memo: dict[str, dict[str, Any]] = {column: {} for column, _, _, few in self.parsers if few}
        self._categories: dict[str, int] | None = None
        self._by_cell: dict[str, int] = {}
        self._paths: dict[str, str] = {}
        self._category_parent: dict[int, int | None] = {}
        self._category_method: dict[int, str] = {}
        self.created_categories: list[str] = []

    @property
    def default_unit(self) -> UnitOfMeasure | None:
        return self.units.get(DEFAULT_UNIT)

    def unit(self, value: str) -> UnitOfMeasure:
        unit = self.units.get(value) or self.units.get(value.casefold())
        if unit is None:
            known = ", ".join(sorted(u.code for u in self.units_by_id.values()))
            raise CellError(f"there is no unit {value!r} (known units: {known}).")
        return unit

    def category_path(self, value: str) -> str:
        """``category_path_normalize``, remembered per cell text (files repeat their paths)."""
        found = self._paths.get(value)
        if found is None:
            found = self._paths[value] = category_path_normalize(value)
        return found

    def unit_id(self, value: str) -> int:
        return self.unit(value).pk

    def _load_categories(self) -> dict[str, int]:
        if self._categories is None:
            self._categories = {}
            for pk, path, parent_id, method in Category.objects.values_list(
                "pk", "path", "parent_id", "valuation_method"
            ):
                self._categories[path.casefold()] = pk
                self._category_parent[pk] = parent_id
                self._category_method[pk] = method
        return self._categories

    def category_id(self, value: str) -> int:
        found = self._by_cell.get(value)
        if found is None:
            found = self._by_cell[value] = self._category_id(value)
        return found

    def _category_id(self, value: str) -> int:
        path = category_path_normalize(value)
        categories = self._load_categories()
        found = categories.get(path.casefold())
        if found is not None:
            return found
        if not self.create_categories:
            raise CellError(
                f"there is no category {path!r}: create it first, or import with the option to create "
                "missing categories (--create-categories)."
            )
        return self._create_path(path)

    def _create_path(self, path: str) -> int:
        parent: Category | None = None
        built: list[str] = []
        for name in path.split(PATH_SEPARATOR):
            built.append(name)
            key = PATH_SEPARATOR.join(built).casefold()
            pk = self._categories.get(key)  # type: ignore[union-attr]
            if pk is not None:
                parent = Category.objects.get(pk=pk)
                continue
            node = Category(name=name, parent=parent)
            if self.actor is not None:
                node._history_user = self.actor
            try:
                node = category_save(category=node)
            except ValidationError as exc:
                raise CellError(f"category {name!r} cannot be created: {' '.join(exc.messages)}") from exc
            self._categories[key] = node.pk  # type: ignore[index]
            self._category_parent[node.pk] = node.parent_id
            self._category_method[node.pk] = node.valuation_method
            self.created_categories.append(node.path)
            parent = node
        return parent.pk  # type: ignore[union-attr]

    def category_valuation(self, category_id: int | None) -> str:
        """The valuation method a new item in this category takes (nearest ancestor's)."""
        self._load_categories()
        node = category_id
        seen = set()
        while node is not None and node not in seen:
            seen.add(node)
            if self._category_method.get(node):
                return self._category_method[node]
            node = self._category_parent.get(node)
        return ValuationMethod.MOVING_AVERAGE


@dataclass(slots=True)
class ItemSpec:
    """One valid row: the SKU, the given fields (model attribute -> value; a field the row
    leaves empty is absent) and the barcodes as (code, kind)."""

    row: int
    sku: str
    key: str
    values: dict[str, Any]
    barcodes: tuple[tuple[str, str], ...] = ()


def gtin_check_digit_ok(code: str) -> bool:
    """The GS1 check digit of a GTIN-8/12/13/14 (the fast path of ``validate_gtin``, which
    gives the message when this says no): digits weighted 3, 1, 3, ... from the right."""
    body = code[:-1]
    total = 3 * sum(map(int, body[::-2])) + sum(map(int, body[-2::-2]))
    return (10 - total % 10) % 10 == int(code[-1])


def parse_barcodes(value: str) -> list[tuple[str, str]]:
    """``a|b|c`` -> [(code, kind)]; a code of 8, 12, 13 or 14 digits is a GTIN and must have
    a right check digit, anything else is an internal code. CellError names the bad code."""
    codes: list[tuple[str, str]] = []
    for part in value.split(BARCODE_SEPARATOR):
        code = normalize_code(part)
        if not code:
            continue
        if cells.looks_reformatted(code):
            raise CellError(
                f"{part.strip()!r} is a number a spreadsheet reformatted: format the column as text and export again."
            )
        if len(code) > 64:
            raise CellError(f"barcode {code[:20]!r}... is longer than 64 characters.")
        kind = BarcodeKind.GTIN if code.isdigit() and len(code) in (8, 12, 13, 14) else BarcodeKind.INTERNAL
        if kind == BarcodeKind.GTIN and not gtin_check_digit_ok(code):
            try:
                validate_gtin(code)  # the model's rule says what is wrong, in its words
            except ValidationError as exc:
                raise CellError(" ".join(exc.messages)) from exc
        if all(code != c for c, _ in codes):
            codes.append((code, kind))
    return codes


def _cell_parsers(refs: ItemRefs) -> tuple[tuple[str, str, Any, bool], ...]:
    """(column, model attribute, parser, few values) of every item column but sku and
    barcodes; a column of few distinct values (units, categories, choices) remembers what
    each cell text parsed to."""
    return (
        ("name", "name", partial(cells.text, max_length=200), False),
        ("description", "description", str, False),
        ("category", "category_path", refs.category_path, True),
        ("unit", "base_unit_id", refs.unit_id, True),
        ("purchase_unit", "purchase_unit_id", refs.unit_id, True),
        ("purchase_factor", "purchase_factor", partial(cells.decimal, positive=True), True),
        ("status", "status", partial(cells.choice, choices=_STATUS), True),
        ("tracking", "tracking", partial(cells.choice, choices=_TRACKING), True),
        ("perishable", "perishable", cells.boolean, True),
        ("shelf_life_days", "shelf_life_days", partial(cells.integer, minimum=1), True),
        ("standard_cost", "standard_cost", partial(cells.decimal, minimum=_ZERO), False),
        ("valuation_method", "valuation_method", partial(cells.choice, choices=_VALUATION), True),
        ("weight_kg", "weight_kg", partial(cells.decimal, minimum=_ZERO), False),
    )


# Cell text -> parsed value of the columns with few distinct values, per ItemRefs; bounded.
_MEMO_LIMIT = 1000


def parse_item_row(raw: Mapping[str, str], *, row: int, refs: ItemRefs) -> ItemSpec | list[RowError]:
    """The one per-row parser of items (admin and command): a raw row (column -> cleaned cell
    text; absent or empty means "not given") into an ItemSpec, or every problem of the row."""
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    sku = normalize_sku(raw.get("sku") or "")
    if not sku:
        errors.append(RowError(row, "sku", "", "The SKU is empty: every row needs one."))
    elif len(sku) > 64:
        errors.append(RowError(row, "sku", sku[:40], f"The SKU is {len(sku)} characters long; at most 64 fit."))
    memo = refs.memo
    for column, attname, parse, few in refs.parsers:
        value = raw.get(column)
        if not value:
            continue
        if few:
            known = memo[column]
            if value in known:
                values[attname] = known[value]
                continue
        try:
            parsed = values[attname] = parse(value)
        except CellError as exc:
            errors.append(RowError(row, column, value, str(exc)))
            continue
        if few and len(known) < _MEMO_LIMIT:
            known[value] = parsed
    barcodes: list[tuple[str, str]] = []
    if value := raw.get("barcodes"):
        try:
            barcodes = parse_barcodes(value)
        except CellError as exc:
            errors.append(RowError(row, "barcodes", value, str(exc)))
    if errors:
        return errors
    return ItemSpec(row=row, sku=sku, key=sku.lower(), values=values, barcodes=tuple(barcodes))


def resolve_item_refs(spec: ItemSpec, refs: ItemRefs) -> list[RowError]:
    """Turn the spec's category path into the category's id (creating the path when the
    import may). This is the database step of a row, kept out of ``parse_item_row`` so that
    parsing touches no table: the batch writer (and the admin's resource) call it."""
    path = spec.values.pop("category_path", None)
    if path is None:
        return []
    try:
        spec.values["category_id"] = refs.category_id(path)
    except CellError as exc:
        return [RowError(spec.row, "category", path, str(exc))]
    return []


class DuplicateTracker:
    """Cross-row checks of one file: a SKU (ignoring case) or a barcode on two rows is an
    error on the later row naming both. One dict entry per SKU and per barcode."""

    def __init__(self) -> None:
        self.skus: dict[str, int] = {}
        self.codes: dict[str, int] = {}

    def check(self, spec: ItemSpec) -> list[RowError]:
        errors = []
        first = self.skus.setdefault(spec.key, spec.row)
        if first != spec.row:
            errors.append(
                RowError(
                    spec.row,
                    "sku",
                    spec.sku,
                    f"SKU {spec.sku!r} is on rows {first} and {spec.row} (SKUs are compared ignoring case): "
                    "an item may appear once per file.",
                )
            )
        for code, _ in spec.barcodes:
            first = self.codes.setdefault(code, spec.row)
            if first != spec.row:
                errors.append(
                    RowError(spec.row, "barcodes", code, f"Barcode {code} is on rows {first} and {spec.row}.")
                )
        return errors


@dataclass(slots=True)
class ItemChange:
    """What a spec does: ``values`` is the whole item as it will be (every concrete field but
    the timestamps, by attribute name; ``id`` for an existing item), ``changed`` the
    attributes that differ from now, ``new_barcodes`` the (code, kind) pairs to add."""

    row: int
    values: dict[str, Any]
    is_new: bool
    changed: list[str] = field(default_factory=list)
    new_barcodes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not self.is_new and not self.changed and not self.new_barcodes

    @property
    def changed_columns(self) -> list[str]:
        columns = [COLUMN_OF.get(a, a) for a in self.changed]
        if self.new_barcodes:
            columns.append("barcodes")
        return list(dict.fromkeys(columns))


# The import's column of each frozen attribute (the rule itself is ``catalog.freezing``'s).
_FROZEN_COLUMN = {"base_unit_id": "unit", "tracking": "tracking", "valuation_method": "valuation_method"}


def freezing_changes(spec: ItemSpec, current: Mapping[str, Any] | None) -> bool:
    """Whether the spec changes what an item with movements must keep (``catalog.freezing``):
    only then does ``apply_item_spec`` ask whether it has movements."""
    return bool(item_frozen_fields_changed(current, spec.values))


def apply_item_spec(
    spec: ItemSpec,
    current: Mapping[str, Any] | None,
    refs: ItemRefs,
    *,
    barcode_owners: Mapping[str, tuple[int, str]],
    moved: Container[int] | None = None,
) -> ItemChange | list[RowError]:
    """Apply a spec to the item as it is (``current``: its fields by attribute name, or None
    for a new item) and check what depends on that: a new item's name, perishables' shelf
    life, units that must convert, and what cannot change once an item has stock movements
    (``Item.clean``'s rules). ``barcode_owners`` maps the spec's codes that exist already to
    (item id, SKU). ``moved``, when given, holds the ids of items with movements among those
    ``freezing_changes`` names; without it, the one query this function may run asks."""
    row, errors = spec.row, []
    given = spec.values
    is_new = current is None
    if current is None:
        values = {**refs.item_defaults, **given, "sku": spec.sku}
        changed = []
        if "name" not in given:
            errors.append(RowError(row, "name", "", "A new item needs a name."))
        if values["base_unit_id"] is None:
            if refs.default_unit is None:
                errors.append(RowError(row, "unit", "", f"No unit given and there is no unit {DEFAULT_UNIT!r}."))
            else:
                values["base_unit_id"] = refs.default_unit.pk
    else:
        values = {**current}
        changed = [a for a, v in given.items() if current.get(a) != v]
        values.update(given)
        if current["sku"] != spec.sku:
            values["sku"] = spec.sku
            changed.append("sku")
    if values["status"] == ItemStatus.DISCONTINUED and not values["discontinued_on"]:
        values["discontinued_on"] = timezone.localdate()
        changed.append("discontinued_on")
    elif values["status"] == ItemStatus.ACTIVE and values["discontinued_on"]:
        values["discontinued_on"] = None
        changed.append("discontinued_on")
    if is_new and not values["valuation_method"]:
        values["valuation_method"] = refs.category_valuation(values["category_id"])
    if values["perishable"] and not values["shelf_life_days"]:
        errors.append(RowError(row, "shelf_life_days", "", "A perishable item needs its shelf life in days."))
    base = refs.units_by_id.get(values["base_unit_id"])
    for unit_attr, factor_attr, column in (
        ("purchase_unit_id", "purchase_factor", "purchase_factor"),
        ("sales_unit_id", "sales_factor", "unit"),
    ):
        unit = refs.units_by_id.get(values[unit_attr])
        if unit is None or base is None or values[factor_attr] is not None or unit.pk == base.pk:
            continue
        try:
            unit.factor_to(base)
        except ValidationError:
            what = "purchase_factor" if column == "purchase_factor" else "the sales factor (in the admin)"
            errors.append(
                RowError(
                    row,
                    column,
                    "",
                    f"{unit.code} does not convert to {base.code}: give {what}, the number of {base.code} "
                    f"in one {unit.code}.",
                )
            )

    def has_movements() -> bool:
        item_id = current["id"]  # type: ignore[index]
        return item_id in moved if moved is not None else Item(pk=item_id).has_stock_history()

    frozen = item_frozen_errors(sku=spec.sku, before=current, after=values, has_movements=has_movements)
    for attname, message in frozen.items():
        shown = refs.units_by_id[values[attname]].code if attname == "base_unit_id" else values[attname]
        errors.append(RowError(row, _FROZEN_COLUMN[attname], str(shown), message))
    new_barcodes = []
    item_id = None if current is None else current["id"]
    for code, kind in spec.barcodes:
        owner = barcode_owners.get(code)
        if owner is None:
            new_barcodes.append((code, kind))
        elif owner[0] != item_id:
            errors.append(RowError(row, "barcodes", code, f"Barcode {code} already belongs to item {owner[1]}."))
    if errors:
        return errors
    return ItemChange(row=row, values=values, is_new=is_new, changed=changed, new_barcodes=new_barcodes)


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


class ItemsJob(ImportJob):
    """``import_items``: validation is ``parse_item_row`` and ``apply_item_spec`` (the admin's);
    new items and their barcodes are inserted and changed items updated in batches, each with
    its history record (actor, date, "Imported from FILE"): ``catalog.importing.bulk``.

    On PostgreSQL a batch's write is one statement sent in pipeline mode and held back one
    batch: ``flush`` of batch k looks batch k up (the connection is idle: the write of batch
    k-1 is not sent yet), sends the write of batch k-1, then checks batch k and the runner
    parses batch k+1 while the server writes. Looking batch k up before batch k-1 is written
    is right because a SKU or barcode on two rows of one file is an error by itself
    (``DuplicateTracker``): no row can depend on another row of the same file."""

    label = "items"
    columns = ITEM_COLUMNS
    required = ("sku",)

    def __init__(self, *, create_categories: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refs = ItemRefs(create_categories=create_categories, actor=self.actor)
        self.duplicates = DuplicateTracker()
        self.writer = bulk.PipelinedWriter() if bulk.fast_path() else None
        self.own_savepoints = self.writer is not None
        self.held: tuple[str, str, dict[str, Any]] | None = None

    def parse(self, raw: dict[str, str], row: int) -> ItemSpec | list[RowError]:
        spec = parse_item_row(raw, row=row, refs=self.refs)
        if isinstance(spec, list):
            return spec
        return self.duplicates.check(spec) or spec

    def settle(self) -> list[RowError]:
        """Wait for the write in flight (PostgreSQL); its refusal, in words."""
        failure = self.writer.wait() if self.writer is not None else None
        if failure is None:
            return []
        rows, exc = failure
        return [RowError(None, "", "", f"The database refused rows {rows}: {exc}")]

    def _send_held(self, write: bool) -> None:
        held, self.held = self.held, None
        if held is not None and write:
            self.writer.submit(*held)  # type: ignore[union-attr]

    def flush(self, specs: list[ItemSpec], *, write: bool) -> list[RowError]:
        errors = self.settle()
        write = write and not errors
        # Everything that needs the database, while the connection is idle.
        existing = items_by_key([s.key for s in specs])
        owners = barcode_owners_for([code for s in specs for code, _ in s.barcodes])
        resolved = []
        for spec in specs:
            if problems := resolve_item_refs(spec, self.refs):
                errors.extend(problems)
            else:
                resolved.append(spec)
        self.refs.category_valuation(None)  # loads the categories now, not during the write
        moved = {
            current["id"]
            for spec in resolved
            if freezing_changes(spec, current := existing.get(spec.key)) and Item(pk=current["id"]).has_stock_history()  # type: ignore[index]
        }
        self._send_held(write and not errors)
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        fields: set[str] = set()
        barcodes: list[tuple[dict[str, Any], str, str]] = []
        for spec in resolved:
            change = apply_item_spec(spec, existing.get(spec.key), self.refs, barcode_owners=owners, moved=moved)
            if isinstance(change, list):
                errors.extend(change)
                continue
            if change.is_new:
                created.append(change.values)
                self.counts.new += 1
            elif change.unchanged:
                self.counts.unchanged += 1
            else:
                self.counts.updated += 1
                if change.changed:
                    updated.append(change.values)
                    fields.update(change.changed)
            barcodes.extend((change.values, code, kind) for code, kind in change.new_barcodes)
        if write and not errors and (created or updated or barcodes):
            if self.writer is not None:
                self.held = self._statement(
                    f"{specs[0].row}-{specs[-1].row}", created, updated, sorted(fields), barcodes
                )
            else:
                self._write(created, updated, fields, barcodes)
        return errors

    def finish(self, *, write: bool) -> list[RowError]:
        errors = self.settle()
        self._send_held(write and not errors)
        return errors + self.settle()

    def _statement(
        self,
        rows: str,
        created: list[dict[str, Any]],
        updated: list[dict[str, Any]],
        changed: list[str],
        barcodes: list[tuple[dict[str, Any], str, str]],
    ) -> tuple[str, str, dict[str, Any]]:
        """PostgreSQL: the batch as one statement (``item_batch_statement``) and its parameters."""
        codes = [{"item_id": v.get("id"), "sku": v["sku"], "code": c, "kind": k} for v, c, k in barcodes]
        params = {
            "new": bulk.json_rows(created),
            "changed": bulk.json_rows(updated),
            "codes": bulk.json_rows(codes),
            "when": timezone.now(),
            "reason": self.change_reason,
            "user": getattr(self.actor, "pk", None),
        }
        return rows, item_batch_statement(changed), params

    def _write(
        self,
        created: list[dict[str, Any]],
        updated: list[dict[str, Any]],
        fields: set[str],
        barcodes: list[tuple[dict[str, Any], str, str]],
    ) -> None:
        """Other databases: simple_history's bulk helpers (``bulk``)."""
        now = timezone.now()
        history = {"user": self.actor, "reason": self.change_reason, "when": now}
        for values in created:
            values["created_at"] = values["updated_at"] = now
        bulk.insert_with_history(Item, created, **history)
        for values in updated:
            values["updated_at"] = now
        bulk.update_with_history(Item, updated, fields | {"updated_at"}, **history)
        rows = [{**self.refs.barcode_defaults, "item_id": v["id"], "code": c, "kind": k} for v, c, k in barcodes]
        bulk.insert_with_history(Barcode, rows, **history)


# --- Export ----------------------------------------------------------------------------------


def format_decimal(value: Decimal | None) -> str:
    """``12.5000`` -> ``12.5``, ``100.0000`` -> ``100``; None -> empty."""
    if value is None:
        return ""
    return format(value.normalize(), "f") if value else "0"


def item_export_row(item: Item, codes: list[str]) -> list[str]:
    """The cells of one item in ``ITEM_COLUMNS`` order (what the import reads back unchanged)."""
    return [
        item.sku,
        item.name,
        item.description,
        item.category.path if item.category_id else "",
        item.base_unit.code,
        item.purchase_unit.code if item.purchase_unit_id else "",
        format_decimal(item.purchase_factor),
        BARCODE_SEPARATOR.join(codes),
        item.status,
        item.tracking,
        "true" if item.perishable else "false",
        "" if item.shelf_life_days is None else str(item.shelf_life_days),
        format_decimal(item.standard_cost),
        item.valuation_method,
        format_decimal(item.weight_kg),
    ]


def item_export_queryset(queryset: QuerySet[Item] | None = None) -> QuerySet[Item]:
    queryset = Item.objects.all() if queryset is None else queryset
    return queryset.select_related("category", "base_unit", "purchase_unit")


def iter_item_export_rows(queryset: QuerySet[Item] | None = None, chunk: int = 2000) -> Iterator[list[str]]:
    """Export rows in SKU order, ``chunk`` items (and their barcodes) per pair of queries, so
    memory stays bounded however many items there are (keyset pagination on ``Lower(sku)``,
    which is unique)."""
    queryset = item_export_queryset(queryset).annotate(_sku_lower=Lower("sku")).order_by("_sku_lower")
    last: str | None = None
    while True:
        page = queryset if last is None else queryset.filter(_sku_lower__gt=last)
        items = list(page[:chunk])
        if not items:
            return
        codes: dict[int, list[str]] = {}
        for item_id, code in (
            Barcode.objects.filter(item_id__in=[i.pk for i in items]).order_by("code").values_list("item_id", "code")
        ):
            codes.setdefault(item_id, []).append(code)
        for item in items:
            yield item_export_row(item, codes.get(item.pk, []))
        last = items[-1]._sku_lower

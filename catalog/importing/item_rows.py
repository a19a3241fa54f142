"""Items, one row at a time: the columns, what rows refer to (units, categories), the one
per-row parser that both the admin import and the ``import_items`` command use, and the
cross-row checks of one file. Parsing touches no table; ``resolve_item_refs`` is a row's
database step.

Semantics (docs/imports.md): a row whose SKU exists (ignoring case) updates that item, any
other row creates one. An empty cell, or a column the file does not have, changes nothing on
an existing item and takes the default on a new one (unit ``each``, status active, tracking
none, valuation method from the category). Barcodes in the ``barcodes`` cell are added; an
import never deletes an item or a barcode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError

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
from .runner import RowError

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

"""Read queries over master data that more than one caller needs (admin, reports, API, the floor),
among them the code look-up rule of items and locations (``item_by_code``, ``location_by_code``)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import Lower, Trim
from django.urls import NoReverseMatch, reverse

from common.db import ModelRows, fetch_rows

from .models import (
    Barcode,
    Item,
    ItemStatus,
    Location,
    LocationKind,
    UnitOfMeasure,
    Warehouse,
    normalize_code,
    normalize_sku,
)
from .units import finer_than_unit, unit_rule


class DataProblemKind(models.TextChoices):
    """Kinds of master-data problem, in the order they are reported."""

    ITEM_WITHOUT_BARCODE = "item_without_barcode", "Items without a barcode"
    ITEM_WITHOUT_CATEGORY = "item_without_category", "Items without a category"
    DUPLICATE_ITEM_NAME = "duplicate_item_name", "Items sharing a name"
    DISCONTINUED_ON_HAND = "discontinued_on_hand", "Discontinued items still on hand"
    UNIT_WITHOUT_CONVERSION = "unit_without_conversion", "Units of measure without conversion"
    ITEM_UNIT_NOT_CONVERTIBLE = "item_unit_not_convertible", "Purchase or sales units without a factor"
    PERISHABLE_WITHOUT_SHELF_LIFE = "perishable_without_shelf_life", "Perishable items without shelf life"
    QUANTITY_FINER_THAN_UNIT = "quantity_finer_than_unit", "Stock or movements finer than their unit"


@dataclass(frozen=True)
class DataProblem:
    """One problem of one master-data row. ``model`` is the model name in the catalog app
    (``item``, ``unitofmeasure``), so callers can link to the row without loading it."""

    kind: str
    model: str
    object_id: int
    label: str
    message: str

    @property
    def kind_label(self) -> str:
        return DataProblemKind(self.kind).label

    @property
    def admin_url(self) -> str | None:
        try:
            return reverse(f"admin:catalog_{self.model}_change", args=[self.object_id])
        except NoReverseMatch:  # the admin is not installed (API-only deployment)
            return None


def _item_problem(kind: str, item: Item, message: str) -> DataProblem:
    return DataProblem(kind=kind, model="item", object_id=item.pk, label=str(item), message=message)


def _unconvertible(unit_field: str, factor_field: str) -> Q:
    """Items whose ``unit_field`` is set, has no explicit factor and no conversion to the base
    unit: another dimension, or either unit without ratio (the same rule as ``Item.unit_factor``)."""
    return (
        Q(**{f"{unit_field}__isnull": False, f"{factor_field}__isnull": True})
        & ~Q(**{unit_field: F("base_unit")})
        & (
            ~Q(**{f"{unit_field}__dimension": F("base_unit__dimension")})
            | Q(**{f"{unit_field}__ratio__isnull": True})
            | Q(base_unit__ratio__isnull=True)
        )
    )


def data_quality_problems() -> list[DataProblem]:
    """Every master-data problem a manager should fix, ordered by kind, then SKU or code.

    Set-based: one query per kind of problem, whatever the number of items. Stock is read
    through the reverse relation ``stock_levels`` (catalog never imports stock).
    """
    problems: list[DataProblem] = []
    items = Item.objects.only("pk", "sku", "name").order_by("sku")

    for item in items.filter(~Exists(Barcode.objects.filter(item=OuterRef("pk")))):
        problems.append(_item_problem(DataProblemKind.ITEM_WITHOUT_BARCODE, item, "No barcode: it cannot be scanned."))

    for item in items.filter(category__isnull=True):
        problems.append(
            _item_problem(DataProblemKind.ITEM_WITHOUT_CATEGORY, item, "No category: reports cannot group it.")
        )

    duplicated = (
        Item.objects.annotate(key=Lower(Trim("name")))
        .values("key")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values("key")
    )
    sharing = list(items.annotate(key=Lower(Trim("name"))).filter(key__in=duplicated))
    skus_by_name: dict[str, list[str]] = {}
    for item in sharing:
        skus_by_name.setdefault(item.key, []).append(item.sku)
    for item in sharing:
        others = ", ".join(sku for sku in skus_by_name[item.key] if sku != item.sku)
        problems.append(
            _item_problem(DataProblemKind.DUPLICATE_ITEM_NAME, item, f"Same name {item.name!r} as SKU {others}.")
        )

    on_hand = (
        items.filter(
            status=ItemStatus.DISCONTINUED,
            stock_levels__on_hand__gt=0,
            stock_levels__location__kind=LocationKind.INTERNAL,
        )
        .annotate(quantity=Sum("stock_levels__on_hand"))
        .select_related("base_unit")
        .only("pk", "sku", "name", "base_unit__code")
    )
    for item in on_hand:
        problems.append(
            _item_problem(
                DataProblemKind.DISCONTINUED_ON_HAND,
                item,
                f"Discontinued but {item.quantity.normalize():f} {item.base_unit.code} still on hand.",
            )
        )

    for unit in UnitOfMeasure.objects.filter(ratio__isnull=True).order_by("code"):
        problems.append(
            DataProblem(
                kind=DataProblemKind.UNIT_WITHOUT_CONVERSION,
                model="unitofmeasure",
                object_id=unit.pk,
                label=str(unit),
                message=f"No ratio: {unit.code} converts to no other {unit.get_dimension_display().lower()} "
                "unit; every item using it needs its own factor.",
            )
        )

    unconvertible = (
        Item.objects.order_by("sku")
        .filter(_unconvertible("purchase_unit", "purchase_factor") | _unconvertible("sales_unit", "sales_factor"))
        .select_related("base_unit", "purchase_unit", "sales_unit")
    )
    for item in unconvertible:
        units = [
            unit.code
            for unit, factor in (
                (item.purchase_unit, item.purchase_factor),
                (item.sales_unit, item.sales_factor),
            )
            if unit is not None and item.unit_factor(unit, factor) is None
        ]
        problems.append(
            _item_problem(
                DataProblemKind.ITEM_UNIT_NOT_CONVERTIBLE,
                item,
                f"{' and '.join(units)} do{'es' if len(units) == 1 else ''} not convert to "
                f"{item.base_unit.code}: give the number of {item.base_unit.code} per unit.",
            )
        )

    for item in items.filter(Q(shelf_life_days__isnull=True) | Q(shelf_life_days=0), perishable=True):
        problems.append(
            _item_problem(
                DataProblemKind.PERISHABLE_WITHOUT_SHELF_LIFE,
                item,
                "Perishable without shelf life: expiry dates of its lots cannot be checked.",
            )
        )

    problems.extend(_finer_than_unit_problems())
    return problems


def _finer_than_unit_problems() -> list[DataProblem]:
    """Items whose internal stock levels or movements hold quantities finer than their base
    unit allows (2.5 each, from before units had decimal places): two queries, whatever the
    number of items. Correct them by reversing the movement, or by an adjustment."""
    places = "item__base_unit__decimal_places"
    counts: dict[int, dict[str, int]] = {}
    for relation, model_name, field, extra in (
        ("stock_levels", "StockLevel", "on_hand", Q(location__kind=LocationKind.INTERNAL)),
        ("movements", "Movement", "quantity", Q()),
    ):
        model = apps.get_model("stock", model_name)  # by name: stock imports catalog
        rows = model.objects.filter(extra).filter(finer_than_unit(field, places)).values("item_id")
        for row in rows.annotate(n=Count("pk")).order_by():
            counts.setdefault(row["item_id"], {})[relation] = row["n"]
    problems = []
    for item in Item.objects.filter(pk__in=counts).select_related("base_unit").order_by("sku"):
        levels, movements = counts[item.pk].get("stock_levels", 0), counts[item.pk].get("movements", 0)
        problems.append(
            _item_problem(
                DataProblemKind.QUANTITY_FINER_THAN_UNIT,
                item,
                f"Counted {unit_rule(item.base_unit)}, but {levels} stock level{'' if levels == 1 else 's'} "
                f"and {movements} movement{'' if movements == 1 else 's'} hold finer quantities: reverse "
                "those movements or adjust the stock to whole units.",
            )
        )
    return problems


# --- Code look-up: one rule for the API and the floor (docs/api.md "Naming things") --------------


_ITEM_ROWS = ModelRows(Item)
_WAREHOUSE_ROWS = ModelRows(Warehouse)
_BASE_UNIT = Item._meta.get_field("base_unit")
_UNIT_ROWS = ModelRows(UnitOfMeasure)


def item_by_code(code: str) -> Item | None:
    """The item a scanned or typed ``code`` names, by one rule for every door (the API's ``sku``
    fields, the floor's scans):

    1. an item's SKU exactly as stored (surrounding spaces ignored);
    2. an item's barcode, exactly, after ``normalize_code`` (spaces removed; case kept: a
       barcode is unique across all items and is compared as printed);
    3. an item's SKU ignoring case (SKUs are unique ignoring case, so at most one matches).

    An exact match wins over a case-folded one: when one item's barcode equals another item's
    SKU, the code names the item whose SKU it is; ``knf-1`` names the item with barcode
    ``knf-1`` before the item with SKU ``KNF-1``. One statement (``warehouse_and_items_by_code``);
    the base unit comes along."""
    return warehouse_and_items_by_code(None, [code])[1][0]


@functools.lru_cache(maxsize=256)  # shapes: a sale of n lines has n SKUs and n barcodes
def _look_up_sql(vendor: str, warehouse: bool, skus: int, barcodes: int) -> str:
    """``warehouse_and_items_by_code``'s statement for its shape (a warehouse code or not, how
    many SKUs and barcodes), built once per shape and database vendor: the warehouse by
    ``UPPER(code)``, then each code's item by SKU (``LOWER``) and by barcode, each row tagged with
    its branch (0, 1, 2) and the code's position."""
    quote = connection.ops.quote_name
    no_items = ", ".join(["NULL"] * (_ITEM_ROWS.width + _UNIT_ROWS.width))
    no_warehouse = ", ".join(["NULL"] * _WAREHOUSE_ROWS.width)
    items_and_unit = f"{_ITEM_ROWS.columns('i')}, {_UNIT_ROWS.columns('u')}"
    unit = f"JOIN {quote(UnitOfMeasure._meta.db_table)} u ON u.id = i.base_unit_id"
    branches: list[str] = []
    if warehouse:
        branches.append(
            f"SELECT 0, NULL, {_WAREHOUSE_ROWS.columns('w')}, {no_items} "  # noqa: S608 - names from _meta
            f"FROM {quote(Warehouse._meta.db_table)} w WHERE UPPER(w.code) = UPPER(%s)"
        )
    for via, count, join in (
        (1, skus, f"JOIN {quote(Item._meta.db_table)} i ON LOWER(i.sku) = LOWER(c.code)"),
        (
            2,
            barcodes,
            f"JOIN {quote(Barcode._meta.db_table)} b ON b.code = c.code "
            f"JOIN {quote(Item._meta.db_table)} i ON i.id = b.item_id",
        ),
    ):
        if count:
            wanted_codes = " UNION ALL ".join(["SELECT %s AS code, %s AS n"] * count)
            branches.append(
                f"SELECT {via}, c.n, {no_warehouse}, {items_and_unit} FROM ({wanted_codes}) c {join} {unit}"  # noqa: S608 - names from _meta
            )
    return " UNION ALL ".join(branches)


def warehouse_and_items_by_code(
    warehouse_code: str | None, item_codes: Sequence[str]
) -> tuple[Warehouse | None, list[Item | None]]:
    """``warehouse_by_code(warehouse_code)`` (None when not asked or not found) and
    ``item_by_code`` of each of ``item_codes`` (in their order, None for a code naming no item),
    read in ONE statement whatever the number of codes: a sale's or return's look-ups. Its
    branches use the indexes of the single look-ups: ``UPPER(code)`` of warehouses, the SKU's
    unique ``LOWER(sku)`` and the barcode's unique code. Plain SQL: the look-ups run on every API
    write and building their querysets cost several times the query (``common.db``)."""
    wanted = normalize_code(warehouse_code or "")
    skus = [(normalize_sku(code), n) for n, code in enumerate(item_codes)]
    skus = [(sku, n) for sku, n in skus if sku]
    barcodes = [(normalize_code(code), n) for n, code in enumerate(item_codes)]
    barcodes = [(barcode, n) for barcode, n in barcodes if barcode]
    items: list[Item | None] = [None] * len(item_codes)
    if not wanted and not skus:
        return None, items
    params: list[object] = [wanted] if wanted else []
    for codes in (skus, barcodes):
        params.extend(value for pair in codes for value in pair)
    sql = _look_up_sql(connection.vendor, bool(wanted), len(skus), len(barcodes))
    warehouse: Warehouse | None = None
    by_sku: dict[int, Item] = {}
    by_barcode: dict[int, Item] = {}
    for row in fetch_rows(sql, params):
        if row[0] == 0:
            warehouse = _WAREHOUSE_ROWS.instance(row, 2)
            continue
        item = _ITEM_ROWS.instance(row, 2 + _WAREHOUSE_ROWS.width)
        _BASE_UNIT.set_cached_value(item, _UNIT_ROWS.instance(row, 2 + _WAREHOUSE_ROWS.width + _ITEM_ROWS.width))
        (by_sku if row[0] == 1 else by_barcode)[row[1]] = item
    for sku, n in skus:
        exact = by_sku.get(n)
        if exact is not None and exact.sku.strip() == sku:  # 1. the SKU as stored
            items[n] = exact
        else:  # 2. the barcode, else 3. the SKU ignoring case
            items[n] = by_barcode.get(n) or exact
    return warehouse, items


def warehouse_by_code(code: str) -> Warehouse | None:
    """The warehouse whose code is ``code`` ignoring case, after ``normalize_code`` (codes are
    unique; plain SQL for the same reason as ``item_by_code``)."""
    return warehouse_and_items_by_code(code, [])[0]


def location_by_barcode(code: str) -> Location | None:
    """The location whose barcode is ``code`` exactly after ``normalize_code`` (unique everywhere:
    any warehouse, virtual ones too; the caller refuses what it cannot use, by name)."""
    barcode = normalize_code(code)
    return Location.objects.select_related("warehouse").filter(barcode=barcode).first() if barcode else None


def location_in_warehouse(code: str, warehouse: Warehouse | None) -> Location | None:
    """The location of ``warehouse`` whose code is ``code`` ignoring case, after ``normalize_code``
    (codes are unique within a warehouse; the same code in another warehouse is another bin)."""
    wanted = normalize_code(code)
    if warehouse is None or not wanted:
        return None
    return Location.objects.select_related("warehouse").filter(warehouse=warehouse, code__iexact=wanted).first()


def location_by_code(code: str, warehouse: Warehouse | None) -> Location | None:
    """The location ``code`` names: its barcode (exact, unique everywhere), else a location code
    of ``warehouse`` (ignoring case). The API's location fields and the floor's scans use this."""
    return location_by_barcode(code) or location_in_warehouse(code, warehouse)

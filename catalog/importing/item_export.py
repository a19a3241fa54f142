"""Items out: the export rows, in ``ITEM_COLUMNS`` order (what the import reads back
unchanged), in SKU order with bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.db.models import QuerySet
from django.db.models.functions import Lower

from catalog.models import Barcode, Item

from .item_rows import BARCODE_SEPARATOR


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

"""Small helpers of the report modules (not a report: registers nothing)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ..framework import Column

CENT = Decimal("0.01")
STEP = Decimal("0.0001")
STEPS: dict[str, Decimal] = {}  # ratio()'s places, each parsed once


def money(value: Decimal) -> Decimal:
    """Money as the ledger stores it (4 places)."""
    if type(value) is not Decimal:
        value = Decimal(value)
    return value.quantize(STEP, rounding=ROUND_HALF_UP)


def unit_cost(value: Decimal, quantity: Decimal) -> Decimal:
    """``value / quantity`` to 4 places (``ratio(value, quantity, "0.0001")`` for a quantity
    that is not 0, without its conversions: it runs once per row)."""
    return (value / quantity).quantize(STEP, rounding=ROUND_HALF_UP)


def share(part: Decimal, whole: Decimal, value: Decimal) -> Decimal:
    """``part``'s share of ``value`` when ``whole`` is worth ``value`` (0 when ``whole`` is 0)."""
    if not whole:
        return Decimal(0)
    if part == whole:
        return value
    return part * value / whole


def ratio(numerator: Decimal, denominator: Decimal, places: str = "0.01") -> Decimal | None:
    """``numerator / denominator`` rounded, or None when the denominator is 0."""
    if not denominator:
        return None
    step = STEPS.get(places) or STEPS.setdefault(places, Decimal(places))
    return (Decimal(numerator) / Decimal(denominator)).quantize(step, rounding=ROUND_HALF_UP)


# The leading columns most reports share, and their cells for one (item, warehouse).
ITEM_COLUMNS = (Column("sku", "SKU"), Column("name", "Item"))
ITEM_WAREHOUSE_COLUMNS = (*ITEM_COLUMNS, Column("category", "Category"), Column("warehouse", "Warehouse"))
QUANTITY_VALUE_COLUMNS = (
    Column("quantity", "Quantity", "quantity"),
    Column("unit", "Unit"),
    Column("value", "Value", "money"),
)


def item_warehouse_cells(item: dict, warehouse_code: str) -> dict[str, str]:
    """The cells of ``ITEM_WAREHOUSE_COLUMNS`` from ``reports.ledger.item_info``'s entry."""
    return {"sku": item["sku"], "name": item["name"], "category": item["category_path"], "warehouse": warehouse_code}

"""Class policies (share of value, count frequency, tolerance) per warehouse and class, and the
tolerance rule every counted line is judged by."""

from __future__ import annotations

from decimal import Decimal

from catalog.models import Warehouse

from ..models import DEFAULT_POLICIES, AbcClass, ClassPolicy, ItemClass

VALUE_STEP = Decimal("0.01")


def class_policies(warehouse: Warehouse) -> dict[str, ClassPolicy]:
    """The three policies of ``warehouse`` by class, created with the defaults when missing
    (``get_or_create``: two callers racing create one row each class, the unique key holds)."""
    found = {p.abc_class: p for p in ClassPolicy.objects.filter(warehouse=warehouse)}
    for abc_class, (share, per_year, percent, value) in DEFAULT_POLICIES.items():
        if abc_class not in found:
            found[abc_class], _ = ClassPolicy.objects.get_or_create(
                warehouse=warehouse,
                abc_class=abc_class,
                defaults={
                    "value_share": share,
                    "counts_per_year": per_year,
                    "tolerance_percent": percent,
                    "tolerance_value": value,
                },
            )
    return found


def item_class(*, warehouse: Warehouse, item_id: int) -> str:
    """The effective class of an item in a warehouse (override, else computed, else C)."""
    rows = ItemClass.objects.filter(warehouse=warehouse, item_id=item_id).only("computed_class", "override_class")
    row = rows.first()
    return row.abc_class if row is not None else AbcClass.C


def within_tolerance(*, policy: ClassPolicy, book: Decimal, variance: Decimal, value: Decimal) -> bool:
    """A variance is within tolerance when it is zero, or when ``|variance|`` is at most
    ``tolerance_percent`` % of the book quantity **and** ``|value|`` at most ``tolerance_value``
    (both edges included: A's 0 % / 0.00 accepts only an exact count)."""
    if variance == 0:
        return True
    limit = abs(book) * policy.tolerance_percent / 100
    return abs(variance) <= limit and abs(value) <= policy.tolerance_value

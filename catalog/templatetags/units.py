"""``{% load units %}``: quantities written with their unit's places (``catalog.units``).

``{{ level.on_hand|qty:item.base_unit }}`` -> "15 each", "1.250 kg";
``{{ level.available|qty_number:item.base_unit }}`` -> "15" (the places, without the unit).
"""

from __future__ import annotations

from decimal import Decimal

from django import template

from catalog.models import UnitOfMeasure
from catalog.units import format_quantity

register = template.Library()


@register.filter
def qty(value: Decimal | None, unit: UnitOfMeasure | None) -> str:
    return format_quantity(value, unit)


@register.filter
def qty_number(value: Decimal | None, unit: UnitOfMeasure | None) -> str:
    return format_quantity(value, unit, with_unit=False)

"""How fine a quantity may be, and how a quantity is written for people: one rule per unit.

A unit of measure has ``decimal_places`` (0 to 4; quantities are stored with 4): ``each`` counts
whole units, ``kg`` weighs to the gram (3), ``m`` measures to the centimetre (2). Every door
(posting services, API, floor, admin, imports, purchase orders, reservations) asks
``quantity_problem`` / ``check_quantity`` here before it writes, so they cannot disagree, and
every page, mail and label writes quantities with ``format_quantity`` (template filter ``qty``
in ``catalog.templatetags.units``). The REST API keeps its machine format (4 places).

catalog is the lowest app: stock levels and movements are reached through the reverse
relations of ``Item`` (``stock_levels``, ``movements``), never by importing stock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, cast

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.db.models.functions import Round

from common.numbers import plain  # the one spelling of a bare number (common: the number rule uses it too)

if TYPE_CHECKING:
    from .models import Item, UnitOfMeasure

MAX_DECIMAL_PLACES = 4  # the scale of every quantity column (catalog.models.QTY)
# Half of the finest step: SQLite keeps decimals as floats, so "differs from its rounding" is
# asked with this margin; on PostgreSQL (exact numerics) it changes nothing.
_TOLERANCE = Decimal("0.00005")


def places_of(value: Decimal) -> int:
    """How many decimal places ``value`` really uses (trailing zeros do not count): 2.50 -> 1."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def unit_rule(unit: UnitOfMeasure) -> str:
    """How the unit counts, for messages: 'in whole units (each)', 'to 2 decimal places (m)'."""
    places = unit.decimal_places
    if places == 0:
        return f"in whole units ({unit.code})"
    return f"to {places} decimal place{'' if places == 1 else 's'} ({unit.code})"


@dataclass(frozen=True)
class QuantityProblem:
    """A quantity finer than its unit allows; ``str()`` is the message for people."""

    sku: str
    unit: str
    decimal_places: int
    quantity: Decimal
    message: str

    def __str__(self) -> str:
        return self.message


def quantity_problem(item: Item, quantity: Decimal, *, unit: UnitOfMeasure | None = None) -> QuantityProblem | None:
    """None when ``quantity`` (in ``unit``, default the item's base unit) has no more decimal
    places than the unit allows; else the problem, naming the item, the unit and the quantity:
    "HDL-001 is counted in whole units (each); 2.5 is not allowed". Not-a-number and infinite
    values are left to the caller's number check (None here)."""
    unit = unit or item.base_unit
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        return None
    if places_of(quantity) <= unit.decimal_places:
        return None
    return QuantityProblem(
        sku=item.sku,
        unit=unit.code,
        decimal_places=unit.decimal_places,
        quantity=quantity,
        message=f"{item.sku} is counted {unit_rule(unit)}; {plain(quantity)} is not allowed.",
    )


def countable(value: Decimal, unit: UnitOfMeasure) -> Decimal:
    """``value`` rounded down (towards zero) to what ``unit`` counts: 2.5 each -> 2. Pickers
    take only this much from a level, so old stock finer than its unit is never split further."""
    return value.quantize(Decimal(1).scaleb(-unit.decimal_places), rounding=ROUND_DOWN)


class QuantityFinerThanUnit(ValidationError):
    """A ValidationError (forms, serializers, admin, imports show it as any other) carrying the
    problem's fields, so callers decide on the type and the fields, never on the text."""

    def __init__(self, problem: QuantityProblem, field: str | None = None) -> None:
        self.problem = problem
        if field:
            super().__init__({field: [ValidationError(problem.message, code="quantity_finer_than_unit")]})
        else:
            super().__init__(problem.message, code="quantity_finer_than_unit")


def check_quantity(
    item: Item, quantity: Decimal, *, unit: UnitOfMeasure | None = None, field: str | None = None
) -> Decimal:
    """``quantity`` unchanged, or QuantityFinerThanUnit (on ``field`` when given)."""
    problem = quantity_problem(item, quantity, unit=unit)
    if problem is not None:
        raise QuantityFinerThanUnit(problem, field)
    return quantity


def check_converted(
    item: Item, quantity: Decimal, factor: Decimal, unit: UnitOfMeasure, *, field: str | None = None
) -> Decimal:
    """``quantity`` of ``unit`` converted to the item's base unit (x ``factor``), or
    QuantityFinerThanUnit when the result is finer than the base unit allows (a factor that
    makes 1 box = 2.5 each). The message names both quantities."""
    base = quantity * factor
    problem = quantity_problem(item, base)
    if problem is not None:
        message = (
            f"{plain(quantity)} {unit.code} of {item.sku} is {plain(base)} {item.base_unit.code}, but "
            f"{item.sku} is counted {unit_rule(item.base_unit)}."
        )
        raise QuantityFinerThanUnit(
            QuantityProblem(problem.sku, problem.unit, problem.decimal_places, base, message), field
        )
    return base


def conversion_problem(item: Item, unit: UnitOfMeasure, factor: Decimal) -> str | None:
    """Why one ``unit`` (``factor`` base units) cannot be an item's purchase or sales unit: one
    of it would be a quantity its base unit cannot count (1 box = 2.5 each). None if fine."""
    try:
        check_converted(item, Decimal(1), factor, unit)
    except QuantityFinerThanUnit as refused:
        return refused.problem.message
    return None


# --- Writing quantities for people -------------------------------------------------------------


def format_quantity(value: Decimal | int | None, unit: UnitOfMeasure | None = None, *, with_unit: bool = True) -> str:
    """A quantity as people read it: with its unit's decimal places, and the unit's code
    ("15 each", "1.250 kg", "2.50 m"). A stored value finer
    than the unit (old data) keeps its real places, so nothing is hidden by rounding
    ("2.5 each"). Without a unit: the plain number. None: an empty string."""
    if value is None:
        return ""
    value = value if isinstance(value, Decimal) else Decimal(value)
    if unit is None:
        return plain(value)
    places = max(unit.decimal_places, places_of(value))
    text = f"{value.quantize(Decimal(1).scaleb(-places)):f}" if places else plain(value)
    return f"{text} {unit.code}" if with_unit else text


def quantity_column(field: str, description: str | None = None, unit: str = "item.base_unit"):  # noqa: ANN201
    """An admin column (list_display, readonly_fields) showing ``field`` with the unit at the
    dotted path ``unit`` ("15 each", not "15.0000"); sorts by the field. The list's
    ``list_select_related`` should reach the unit (``item__base_unit``)."""

    def column(admin: object, obj: object) -> str:
        target = obj
        for name in unit.split("."):
            target = getattr(target, name, None) if target is not None else None
        value = obj
        for name in field.split("."):
            value = getattr(value, name, None) if value is not None else None
        return format_quantity(cast("Decimal | None", value), cast("UnitOfMeasure | None", target))

    column.short_description = description or field.split(".")[-1].replace("_", " ")  # type: ignore[attr-defined]
    if "." not in field:
        column.admin_order_field = field  # type: ignore[attr-defined]
    column.__name__ = f"{field.replace('.', '_')}_display"
    return column


# --- Existing data -------------------------------------------------------------------------------


def _differs_from_rounding(field: str, places: int) -> Q:
    rounded = Round(F(field), places)
    return Q(**{f"{field}__gt": rounded + _TOLERANCE}) | Q(**{f"{field}__lt": rounded - _TOLERANCE})


def finer_than_unit(field: str, places_field: str) -> Q:
    """Rows whose ``field`` is finer than the unit at ``places_field`` (a path to a unit's
    decimal_places, e.g. ``item__base_unit__decimal_places``) allows. One condition per number
    of places (0..3; 4 is always fine), as Round() takes a constant."""
    condition = Q(pk__in=[])
    for places in range(MAX_DECIMAL_PLACES):
        condition |= Q(**{places_field: places}) & _differs_from_rounding(field, places)
    return condition


def decimal_places_problem(unit: UnitOfMeasure) -> str | None:
    """Why ``unit.decimal_places`` (the new value, not yet saved) cannot be saved: items in
    this unit already hold stock levels or movements finer than it, and the ledger would break
    its own rule. None when nothing is finer."""
    from .models import LocationKind  # at call time: models calls this from clean()

    if unit.pk is None or unit.decimal_places is None or unit.decimal_places >= MAX_DECIMAL_PLACES:
        return None
    counts = []
    for model_name, field, where in (
        ("StockLevel", "on_hand", Q(location__kind=LocationKind.INTERNAL)),  # stock, not virtual sums
        ("Movement", "quantity", Q()),
    ):
        model = apps.get_model("stock", model_name)  # by name: stock imports catalog
        rows = model.objects.filter(where, item__base_unit=unit)
        counts.append(rows.filter(_differs_from_rounding(field, unit.decimal_places)).count())
    levels, movements = counts
    if not levels and not movements:
        return None
    return (
        f"{unit.code} cannot count {unit_rule(unit).split(' (')[0]}: {levels} stock "
        f"level{'' if levels == 1 else 's'} and {movements} movement{'' if movements == 1 else 's'} "
        "of its items hold finer quantities. Keep more decimal places, or correct that stock first "
        "(the data-quality page lists it)."
    )

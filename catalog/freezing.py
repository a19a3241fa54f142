"""What freezes once the ledger depends on it (DESIGN rule 10: no door around the ledger).

One rule per master-data model, here and nowhere else. The models' ``clean`` call them, so
every door that validates a model (admin forms, the imports, ``catalog.services``, any future
API) refuses the same edits with the same words; the bulk item import, which works on values
rather than instances, calls ``item_frozen_errors`` itself. A refusal is a ``ValidationError``
keyed by field with code ``"frozen"``, and nothing is written.

- Item: base unit, tracking and valuation method, once the item has movements.
- Unit of measure: ratio and dimension, once an item using it (as base, purchase or sales unit)
  has movements or is on a purchase order line.
- Location: warehouse, kind and a parent in another warehouse, once it or anything under it has
  stock or movements (moving contents is a transfer); a location with sub-locations keeps its
  warehouse (the tree stays in one warehouse).
- Warehouse: ``allow_negative_stock`` stays on while any of its levels is negative.

"Has movements" is asked without importing ``stock`` (which imports catalog): through the
reverse relations the ledger declares on catalog's models (``Item.movements``,
``Location.stock_levels``, ``incoming_movements``, ``outgoing_movements``), and purchase order
lines through ``apps.get_model`` (they declare no reverse relation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Q

if TYPE_CHECKING:  # catalog.models imports this module: the names are for the type checker only
    from catalog.models import Item, Location, UnitOfMeasure, Warehouse

FROZEN = "frozen"
TRANSFER_INSTEAD = "has stock or movements: move its contents with a transfer instead."

# Attribute name -> (form field name, what it is called in a message).
ITEM_FROZEN_FIELDS: dict[str, tuple[str, str]] = {
    "base_unit_id": ("base_unit", "base unit"),
    "tracking": ("tracking", "tracking"),
    "valuation_method": ("valuation_method", "valuation method"),
}
# The ledger costs an item without valuation method by moving average (stock.services).
_VALUATION_DEFAULT = "average"


def _effective(attname: str, value: Any) -> Any:
    if attname == "valuation_method":
        return value or _VALUATION_DEFAULT
    return value


def item_frozen_fields_changed(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """The attnames of ``ITEM_FROZEN_FIELDS`` that ``after`` changes (absent keys keep their
    value; a missing ``before`` is a new item, which changes nothing)."""
    if before is None:
        return []
    return [
        attname
        for attname in ITEM_FROZEN_FIELDS
        if attname in after and _effective(attname, after[attname]) != _effective(attname, before[attname])
    ]


def item_frozen_errors(
    *, sku: str, before: Mapping[str, Any] | None, after: Mapping[str, Any], has_movements: bool | Callable[[], bool]
) -> dict[str, str]:
    """Messages by attname for the frozen fields ``after`` changes on an item with movements.
    ``has_movements`` is asked (when a callable) only if a frozen field changes."""
    changed = item_frozen_fields_changed(before, after)
    if not changed:
        return {}
    if not (has_movements() if callable(has_movements) else has_movements):
        return {}
    return {
        attname: f"The {ITEM_FROZEN_FIELDS[attname][1]} of {sku} cannot change: the item has stock movements."
        for attname in changed
    }


def item_validate_frozen(item: Item) -> None:
    """``Item.clean``'s part: raise ValidationError (code ``frozen``) keyed by form field."""
    if item.pk is None:
        return
    before = type(item).objects.filter(pk=item.pk).values(*ITEM_FROZEN_FIELDS).first()
    after = {attname: getattr(item, attname) for attname in ITEM_FROZEN_FIELDS}
    errors = item_frozen_errors(sku=item.sku, before=before, after=after, has_movements=item.has_stock_history)
    if errors:
        raise ValidationError(
            {ITEM_FROZEN_FIELDS[a][0]: ValidationError(message, code=FROZEN) for a, message in errors.items()}
        )


def unit_in_ledger_use(unit: UnitOfMeasure) -> str | None:
    """Why the ledger depends on ``unit`` (an item using it has movements or is on a purchase
    order line), naming one such item; None if it does not."""
    Item = apps.get_model("catalog", "Item")
    users = Item.objects.filter(Q(base_unit=unit) | Q(purchase_unit=unit) | Q(sales_unit=unit))
    moved = users.filter(movements__isnull=False).values_list("sku", flat=True).first()
    if moved is not None:
        return f"item {moved} uses it and has stock movements"
    try:
        line_model = apps.get_model("purchasing", "PurchaseOrderLine")
    except LookupError:  # purchasing not installed
        return None
    ordered = line_model.objects.filter(item__in=users).values_list("item__sku", flat=True).first()
    if ordered is not None:
        return f"item {ordered} uses it and is on a purchase order"
    return None


def unit_validate_frozen(unit: UnitOfMeasure) -> None:
    """``UnitOfMeasure.clean``'s part: ratio and dimension fixed once the ledger uses the unit."""
    if unit.pk is None:
        return
    before = type(unit).objects.filter(pk=unit.pk).values("ratio", "dimension").first()
    if before is None:
        return
    changed = [name for name in ("ratio", "dimension") if getattr(unit, name) != before[name]]
    if not changed or (reason := unit_in_ledger_use(unit)) is None:
        return
    raise ValidationError(
        {
            name: ValidationError(
                f"The {name} of unit {unit.code} cannot change: {reason}. Add a new unit instead.", code=FROZEN
            )
            for name in changed
        }
    )


def _locations_in_ledger(ids: list[int]) -> Location | None:
    """The first of the locations ``ids`` that has a stock level or a movement."""
    Location = apps.get_model("catalog", "Location")
    in_ledger = (
        Q(stock_levels__isnull=False) | Q(incoming_movements__isnull=False) | Q(outgoing_movements__isnull=False)
    )
    return Location.objects.filter(pk__in=ids).filter(in_ledger).select_related("warehouse").order_by("pk").first()


def location_validate_frozen(location: Location) -> None:
    """``Location.clean``'s part: warehouse, kind and a cross-warehouse parent are fixed once the
    location, or (for its warehouse) anything under it, has stock or movements."""
    if location.pk is None:
        return
    Location = type(location)
    before = Location.objects.filter(pk=location.pk).select_related("warehouse").first()
    if before is None:
        return
    moves_warehouse = location.warehouse_id != before.warehouse_id
    changed = ["warehouse"] if moves_warehouse else []
    if location.kind != before.kind:
        changed.append("kind")
    if location.parent_id != before.parent_id and moves_warehouse:
        changed.append("parent")
    if not changed:
        return
    errors: dict[str, ValidationError] = {}
    held = _locations_in_ledger([before.pk])
    if held is None and moves_warehouse:
        held = _locations_in_ledger(before.descendant_ids())
    if held is not None:
        where = str(before) if held.pk == before.pk else f"{before} holds {held}, which"
        errors = {
            name: ValidationError(f"The {name} of {before} cannot change: {where} {TRANSFER_INSTEAD}", code=FROZEN)
            for name in changed
        }
    elif moves_warehouse and Location.objects.filter(parent_id=before.pk).exists():
        errors["warehouse"] = ValidationError(
            f"The warehouse cannot change: {before} has sub-locations, which would stay in "
            f"{before.warehouse.code if before.warehouse else 'no warehouse'}. Move or remove them first.",
            code=FROZEN,
        )
    if errors:
        raise ValidationError(errors)


def warehouse_validate_frozen(warehouse: Warehouse) -> None:
    """``Warehouse.clean``'s part: negative stock stays allowed while any level is negative
    (switching it off would leave levels the ledger's own rule forbids)."""
    if warehouse.pk is None or warehouse.allow_negative_stock:
        return
    was = type(warehouse).objects.filter(pk=warehouse.pk).values_list("allow_negative_stock", flat=True).first()
    if not was:
        return
    Location = apps.get_model("catalog", "Location")
    negative = (
        Location.objects.filter(warehouse=warehouse, kind="internal", stock_levels__on_hand__lt=0)
        .order_by("code", "stock_levels__item__sku")
        .values_list("code", "stock_levels__item__sku", "stock_levels__on_hand")
    )
    count = negative.count()
    if not count:
        return
    code, sku, on_hand = negative[0]
    raise ValidationError(
        {
            "allow_negative_stock": ValidationError(
                f"Negative stock cannot be switched off in {warehouse.code}: {count} stock "
                f"level{'s are' if count != 1 else ' is'} below zero (e.g. {sku} at {warehouse.code}/{code}: "
                f"{on_hand.normalize():f}). Count or adjust them to zero or more first.",
                code=FROZEN,
            )
        }
    )

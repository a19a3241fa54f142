"""Items against the items as they are now: what a parsed row (``item_rows.ItemSpec``) does to
its item (``ItemChange``) and what depends on the item's current state: a new item's name,
perishables' shelf life, units that must convert, barcodes owned by another item, and what
cannot change once an item has stock movements (``catalog.freezing``).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.freezing import item_frozen_errors, item_frozen_fields_changed
from catalog.models import Item, ItemStatus

from .item_rows import COLUMN_OF, DEFAULT_UNIT, ItemRefs, ItemSpec
from .runner import RowError


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

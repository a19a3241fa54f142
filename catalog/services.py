"""Writes of master data that keep derived fields and history right.

The admin, imports and the API call these instead of a bare ``.save()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import models, transaction
from django.utils import timezone

from common.actors import Actor

from .access import warehouse_access_grant
from .models import Category, Item, ItemStatus, Location, ValuationMethod, Warehouse
from .permissions import WarehouseAction, WarehousePermissionDenied, warehouse_allows, warehouse_require


def _history_user_set(instance: models.Model, actor: Actor | None) -> None:
    """Name ``actor`` as the author of the history row the next save writes (django-simple-history
    reads ``_history_user``); without one, the row has no user (a system change)."""
    if actor is not None:
        instance._history_user = actor  # type: ignore[attr-defined]  # simple-history's hook


@transaction.atomic
def category_save(*, category: Category) -> Category:
    """Validate and save a category, then refresh the stored ``path`` of it and every
    descendant (a rename or a move of a parent changes their paths)."""
    category.full_clean(exclude=["path"])
    category.path = category.compute_path()
    category.save()
    frontier = [category]
    while frontier:
        children = list(Category.objects.filter(parent__in=frontier).select_related("parent"))
        parents = {c.pk: c for c in frontier}
        for child in children:
            child.parent = parents[child.parent_id]  # type: ignore[index]  # children of the frontier have a parent
            new_path = child.compute_path()
            if child.path != new_path:
                child.path = new_path
                child.save(update_fields=["path"])
        frontier = children
    return category


def category_get_or_create_path(*, path: str) -> Category:
    """The category at ``A > B > C``, creating the missing nodes."""
    parent: Category | None = None
    for name in [part.strip() for part in path.split(">") if part.strip()]:
        node = Category.objects.filter(parent=parent, name__iexact=name).first()
        if node is None:
            node = category_save(category=Category(name=name, parent=parent))
        parent = node
    if parent is None:
        raise ValueError("An empty category path names no category.")
    return parent


def item_save(*, item: Item) -> Item:
    """Validate and save an item. An item without valuation method takes its category's, unless
    it has movements: the ledger costed it by moving average, so that is what it keeps (its
    category's method would change the costing of its stock, see ``catalog.freezing``). What
    freezes once the item has movements is refused by ``Item.clean`` (ValidationError)."""
    if not item.valuation_method:
        if item.pk is not None and item.has_stock_history():
            item.valuation_method = ValuationMethod.MOVING_AVERAGE
        else:
            item.valuation_method = (
                item.category.effective_valuation_method() if item.category else ValuationMethod.MOVING_AVERAGE
            )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def items_discontinue(*, items: Iterable[Item], on: date | None = None, actor: Actor | None = None) -> int:
    """Mark items discontinued as of ``on`` (default today). Already discontinued items keep
    their date. Returns how many changed; each change is a history record by ``actor``."""
    on = on or timezone.localdate()
    changed = 0
    for item in items:
        if item.status == ItemStatus.DISCONTINUED:
            continue
        item.status = ItemStatus.DISCONTINUED
        item.discontinued_on = on
        _history_user_set(item, actor)
        item.save(update_fields=["status", "discontinued_on", "updated_at"])
        changed += 1
    return changed


@transaction.atomic
def location_save(*, location: Location, actor: Actor | None) -> Location:
    """Validate and save a location. ``actor`` needs the warehouse action MANAGE ("edit the
    warehouse and its locations") in the warehouse it is in now and in the one it goes to
    (``WarehousePermissionDenied`` otherwise); a virtual location (no warehouse) needs it
    everywhere. ``Location.clean`` refuses what freezes once it has stock or movements
    (``catalog.freezing``). Nothing is written on a refusal."""
    before = Location.objects.filter(pk=location.pk).values_list("warehouse_id", flat=True).first()
    warehouse_ids = {before, location.warehouse_id} if location.pk else {location.warehouse_id}
    if None in warehouse_ids and not warehouse_allows(actor, None, WarehouseAction.MANAGE):
        raise WarehousePermissionDenied(f"{actor} may not edit the virtual locations (they belong to every warehouse).")
    warehouse_require(
        actor, Warehouse.objects.filter(pk__in={pk for pk in warehouse_ids if pk is not None}), WarehouseAction.MANAGE
    )
    _history_user_set(location, actor)
    location.full_clean()
    location.save()
    return location


@transaction.atomic
@transaction.atomic
def warehouse_save(*, warehouse: Warehouse, actor: Actor | None) -> Warehouse:
    """Validate and save a warehouse. A new one needs ``catalog.add_warehouse``; changing one
    needs the warehouse action MANAGE in it (``WarehousePermissionDenied`` otherwise).
    ``Warehouse.clean`` keeps negative stock allowed while any of its levels is negative. The
    creator of a new warehouse is granted "view stock" and "manage warehouse" in it (unless a
    global grant already gives them), with a row in the audit trail."""
    if warehouse.pk is None:
        warehouse_require(actor, None, WarehouseAction.MANAGE, model_perm="catalog.add_warehouse")
    else:
        warehouse_require(actor, Warehouse.objects.get(pk=warehouse.pk), WarehouseAction.MANAGE)
    _history_user_set(warehouse, actor)
    warehouse.full_clean()
    created = warehouse.pk is None
    warehouse.save()
    if created and actor is not None and not actor.has_perm(f"catalog.{WarehouseAction.MANAGE}"):
        # Whoever creates a warehouse may see and keep it (add its bins, edit it); granting
        # rights there stays with those who manage access. Recorded in the audit trail.
        warehouse_access_grant(
            warehouse=warehouse, actor=None, user=actor, perms=[WarehouseAction.VIEW, WarehouseAction.MANAGE]
        )
    return warehouse

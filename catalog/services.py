"""Writes of master data that keep derived fields and history right.

The admin, imports and the API call these instead of a bare ``.save()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from .models import Category, Item, ItemStatus, ValuationMethod


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
            child.parent = parents[child.parent_id]
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
    """Validate and save an item. A new item without valuation method takes its category's."""
    if not item.valuation_method:
        item.valuation_method = (
            item.category.effective_valuation_method() if item.category_id else ValuationMethod.MOVING_AVERAGE
        )
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def items_discontinue(*, items: Iterable[Item], on: date | None = None, actor: AbstractBaseUser | None = None) -> int:
    """Mark items discontinued as of ``on`` (default today). Already discontinued items keep
    their date. Returns how many changed; each change is a history record by ``actor``."""
    on = on or timezone.localdate()
    changed = 0
    for item in items:
        if item.status == ItemStatus.DISCONTINUED:
            continue
        item.status = ItemStatus.DISCONTINUED
        item.discontinued_on = on
        if actor is not None:
            item._history_user = actor
        item.save(update_fields=["status", "discontinued_on", "updated_at"])
        changed += 1
    return changed

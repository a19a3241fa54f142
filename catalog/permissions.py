"""Warehouse-scoped permissions: who may do what where.

Two layers decide an action (docs/roles.md):
1. the *model* permission of the role (``stock.add_movement`` to post, ...), from the groups;
2. the *warehouse* permission (a custom permission of ``catalog.Warehouse``), granted either
   globally (a model-level grant: every warehouse, e.g. to Administrators and Auditors) or per
   warehouse with django-guardian (``assign_perm(perm, user_or_group, warehouse)``).

Every door (admin, clerk pages, API, imports, tasks) asks the services, and the services ask
``warehouse_require``; so they cannot disagree. ``actor=None`` means the system itself (a data
migration, a management command run by an operator) and is always allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from .models import Warehouse


class WarehouseAction:
    VIEW = "view_warehouse_stock"
    POST = "post_warehouse_movements"
    ADJUST = "adjust_warehouse_stock"
    APPROVE = "approve_warehouse_adjustments"
    RECEIVE_PURCHASES = "receive_warehouse_purchases"

    ALL = (VIEW, POST, ADJUST, APPROVE, RECEIVE_PURCHASES)
    LABELS = {
        VIEW: "view stock",
        POST: "receive, move, issue and scrap",
        ADJUST: "adjust stock",
        APPROVE: "approve adjustments and counts",
        RECEIVE_PURCHASES: "receive purchase orders",
    }


class WarehousePermissionDenied(PermissionDenied):
    """Refused for lack of a model or warehouse permission; ``str()`` says which."""

    code = "permission_denied"


def _full(action: str) -> str:
    return f"catalog.{action}"


def warehouse_allows(user: AbstractBaseUser | None, warehouse: Warehouse | int | None, action: str) -> bool:
    """May ``user`` do ``action`` in ``warehouse``? Global grants count for every warehouse."""
    if user is None:
        return True
    if not user.is_active:
        return False
    if user.has_perm(_full(action)):
        return True
    if warehouse is None:
        return False
    if isinstance(warehouse, int):
        warehouse = Warehouse.objects.get(pk=warehouse)
    return user.has_perm(_full(action), warehouse)


def warehouses_for(user: AbstractBaseUser | None, action: str = WarehouseAction.VIEW) -> QuerySet[Warehouse]:
    """The warehouses where ``user`` may do ``action`` (all of them for a global grant)."""
    if user is None or (user.is_active and user.has_perm(_full(action))):
        return Warehouse.objects.all()
    if not user.is_active:
        return Warehouse.objects.none()
    return get_objects_for_user(user, _full(action), klass=Warehouse, accept_global_perms=False)


def warehouse_require(
    user: AbstractBaseUser | None,
    warehouses: Iterable[Warehouse | None] | Warehouse | None,
    action: str,
    *,
    model_perm: str | None = None,
) -> None:
    """Raise ``WarehousePermissionDenied`` unless ``user`` has ``model_perm`` (when given) and
    may do ``action`` in every warehouse named (``None`` entries, virtual sides, are skipped)."""
    if user is None:
        return
    if model_perm and not user.has_perm(model_perm):
        raise WarehousePermissionDenied(f"{user} may not {model_perm.split('.', 1)[1].replace('_', ' ')}.")
    if isinstance(warehouses, Warehouse) or warehouses is None:
        warehouses = [warehouses]
    for warehouse in {w.pk: w for w in warehouses if w is not None}.values():
        if not warehouse_allows(user, warehouse, action):
            raise WarehousePermissionDenied(
                f"{user} may not {WarehouseAction.LABELS[action]} in warehouse {warehouse.code}."
            )

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

import functools
from collections.abc import Iterable

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest
from guardian.conf import settings as guardian_settings
from guardian.core import ObjectPermissionChecker
from guardian.ctypes import get_content_type
from guardian.shortcuts import get_objects_for_user
from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

from common.actors import Actor
from common.backends import m2m_table
from common.db import fetch_rows

from .models import Warehouse


class WarehouseAction:
    VIEW = "view_warehouse_stock"
    POST = "post_warehouse_movements"
    ADJUST = "adjust_warehouse_stock"
    APPROVE = "approve_warehouse_adjustments"
    RECEIVE_PURCHASES = "receive_warehouse_purchases"
    MANAGE = "manage_warehouse"
    MANAGE_ACCESS = "manage_warehouse_access"

    ALL = (VIEW, POST, ADJUST, APPROVE, RECEIVE_PURCHASES, MANAGE, MANAGE_ACCESS)
    LABELS = {
        VIEW: "view stock",
        POST: "receive, move, issue and scrap",
        ADJUST: "adjust stock",
        APPROVE: "approve adjustments and counts",
        RECEIVE_PURCHASES: "receive purchase orders",
        MANAGE: "edit the warehouse and its locations",
        MANAGE_ACCESS: "grant and revoke rights",
    }


class WarehousePermissionDenied(PermissionDenied):
    """Refused for lack of a model or warehouse permission; ``str()`` says which."""

    code = "permission_denied"


def _full(action: str) -> str:
    return f"catalog.{action}"


def warehouse_allows(user: Actor | None, warehouse: Warehouse | int | None, action: str) -> bool:
    """May ``user`` do ``action`` in ``warehouse``? Global grants count for every warehouse."""
    if user is None:
        return True
    if not user.is_active:
        return False
    if _has_perm(user, _full(action)):
        return True
    if warehouse is None:
        return False
    if isinstance(warehouse, int):
        warehouse = Warehouse.objects.get(pk=warehouse)
    return _checker(user).has_perm(action, warehouse)


def _has_perm(user: Actor, perm: str) -> bool:
    """``user.has_perm(perm)`` (model-wide), remembered on the user object like ``_checker``'s
    answers: asking every authentication backend again cost more than a posting's own Python."""
    cache = getattr(user, "_model_permission_cache", None)
    if cache is None:
        cache = user._model_permission_cache = {}
    if perm not in cache:
        cache[perm] = user.has_perm(perm)
    return cache[perm]


class _OneQueryChecker(ObjectPermissionChecker):
    """django-guardian's checker with a user's own grants on an object and their groups' read
    in ONE plain-SQL statement (``_grants_sql``: guardian's two filters as a UNION; guardian
    builds two querysets, whose building cost a clerk's API write more CPU than its posting).
    Groups alone, superusers, inactive users, guardian's prefetch mode and direct (non-generic)
    object-permission models take guardian's path; tests/api/test_api_request_cost.py compares
    the answers with guardian's."""

    def get_perms(self, obj: Model) -> list[str]:
        user = self.user
        if user is None or not user.is_active or user.is_superuser or guardian_settings.AUTO_PREFETCH:
            return super().get_perms(obj)
        key = self.get_local_cache_key(obj)  # guardian's own cache and key: an answer is read once
        if key not in self._obj_perms_cache:
            user_model, group_model = get_user_obj_perms_model(obj), get_group_obj_perms_model(obj)
            if not (user_model.objects.is_generic() and group_model.objects.is_generic()):
                return super().get_perms(obj)
            content_type, pk = get_content_type(obj).pk, str(obj.pk)
            rows = fetch_rows(
                _grants_sql(connection.vendor, user_model, group_model),
                [content_type, content_type, pk, user.pk] * 2,
            )
            self._obj_perms_cache[key] = list({codename for (codename,) in rows})
        return self._obj_perms_cache[key]


@functools.cache
def _grants_sql(vendor: str, user_grants: type[Model], group_grants: type[Model]) -> str:
    """The codenames of the permissions on one object granted to a user directly or through a
    group: guardian's ``get_user_filters`` and ``get_group_filters`` of a generic object
    permission (the permission's content type, the grant's content type and ``object_pk``),
    as a UNION of two selects. Parameters, twice: content type, content type, object pk, user."""
    quote = connection.ops.quote_name
    groups, groups_user, groups_group = m2m_table(get_user_model(), "groups")
    permissions = quote(Permission._meta.db_table)

    def column(model: type[Model], name: str) -> str:
        return quote(model._meta.get_field(name).column)

    def granted(model: type[Model], holder: str) -> str:
        return (
            f"SELECT p.{quote('codename')} FROM {permissions} p "  # noqa: S608 - names from _meta
            f"JOIN {quote(model._meta.db_table)} g ON g.{column(model, 'permission')} = p.id {holder}"
            f"WHERE p.content_type_id = %s AND g.{column(model, 'content_type')} = %s "
            f"AND g.{column(model, 'object_pk')} = %s AND "
        )

    through_groups = f"JOIN {groups} ug ON ug.{groups_group} = g.{column(group_grants, 'group')} "
    return (
        f"{granted(user_grants, '')}g.{column(user_grants, 'user')} = %s UNION "
        f"{granted(group_grants, through_groups)}ug.{groups_user} = %s"
    )


def _checker(user: Actor) -> ObjectPermissionChecker:
    """django-guardian's checker, kept on the user object: it reads a warehouse's grants (the
    user's and their groups', one statement) once and answers from memory after that. A user
    object lives for one request or one task, so a changed grant counts from the next one."""
    checker = getattr(user, "_warehouse_permission_checker", None)
    if checker is None:
        checker = _OneQueryChecker(user)
        user._warehouse_permission_checker = checker
    return checker


def warehouses_for(user: Actor | None, action: str = WarehouseAction.VIEW) -> QuerySet[Warehouse]:
    """The warehouses where ``user`` may do ``action`` (all of them for a global grant)."""
    if user is None or (user.is_active and user.has_perm(_full(action))):
        return Warehouse.objects.all()
    if not user.is_active:
        return Warehouse.objects.none()
    return get_objects_for_user(user, _full(action), klass=Warehouse, accept_global_perms=False)


def warehouse_require(
    user: Actor | None,
    warehouses: Iterable[Warehouse | None] | Warehouse | None,
    action: str,
    *,
    model_perm: str | None = None,
) -> None:
    """Raise ``WarehousePermissionDenied`` unless ``user`` has ``model_perm`` (when given) and
    may do ``action`` in every warehouse named (``None`` entries, virtual sides, are skipped)."""
    if user is None:
        return
    if model_perm and not _has_perm(user, model_perm):
        raise WarehousePermissionDenied(f"{user} may not {model_perm.split('.', 1)[1].replace('_', ' ')}.")
    if isinstance(warehouses, Warehouse) or warehouses is None:
        warehouses = [warehouses]
    for warehouse in {w.pk: w for w in warehouses if w is not None}.values():
        if not warehouse_allows(user, warehouse, action):
            raise WarehousePermissionDenied(
                f"{user} may not {WarehouseAction.LABELS[action]} in warehouse {warehouse.code}."
            )


def scope_to_warehouses(
    queryset: QuerySet,
    user: Actor | None,
    *lookups: str,
    action: str = WarehouseAction.VIEW,
    include_unassigned: bool = False,
) -> QuerySet:
    """Rows of ``queryset`` the user may see: those whose warehouse (through any of
    ``lookups``, e.g. ``"location__warehouse"``) is one where they may do ``action``.
    ``include_unassigned`` also keeps rows whose lookups are all empty (virtual locations)."""
    if user is None or (user.is_active and user.has_perm(_full(action))):
        return queryset
    permitted = warehouses_for(user, action)
    condition = Q()
    for lookup in lookups:
        condition |= Q(**{f"{lookup}__in": permitted})
    if include_unassigned:
        condition |= Q(**{f"{lookup}__isnull": True for lookup in lookups})
    return queryset.filter(condition)


class WarehouseScopedAdminMixin:
    """Admin lists, change pages, autocompletes and exports show only rows of warehouses where
    the user may view stock (global grants see all). Another warehouse's object by URL is a
    404, never its data. Set ``warehouse_lookups`` (and ``include_unassigned``)."""

    warehouse_lookups: tuple[str, ...] = ()
    include_unassigned = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return scope_to_warehouses(
            queryset, request.user, *self.warehouse_lookups, include_unassigned=self.include_unassigned
        )

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: object, object_id: str) -> None:
        raise Http404(f"No {opts.verbose_name} with id {object_id!r} here.")

    def _require_in_scope(self, request: HttpRequest, object_id: str) -> None:
        try:
            found = self.get_queryset(request).filter(pk=unquote(object_id)).exists()
        except (ValueError, ValidationError):  # a hand-typed id that is no id: as missing
            found = False
        if not found:
            raise Http404(f"No {self.model._meta.verbose_name} with id {object_id!r} here.")

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None):  # noqa: ANN201
        """simple-history finds records by id without the admin's queryset: scope them too."""
        self._require_in_scope(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str, extra_context=None):  # noqa: ANN001, ANN201
        self._require_in_scope(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


class PermittedWarehouseFilter(admin.SimpleListFilter):
    """List filter "warehouse" offering only the user's warehouses; ``warehouse_lookups`` of the
    admin say where the warehouse is (any of them matches)."""

    title = "warehouse"
    parameter_name = "warehouse"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(w.pk), str(w)) for w in warehouses_for(request.user)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        condition = Q()
        for lookup in getattr(self, "model_admin_lookups", ()):
            condition |= Q(**{f"{lookup}_id": self.value()})
        return queryset.filter(condition)

    def __init__(self, request, params, model, model_admin):  # noqa: ANN001 - Django signature
        self.model_admin_lookups = getattr(model_admin, "warehouse_lookups", ())
        super().__init__(request, params, model, model_admin)

"""The "Object permissions" pages of the warehouse admin, gated and routed through
``catalog.access``.

guardian's ``GuardedModelAdminMixin`` lets anyone who may change warehouses grant any right to
anyone. Here (issue 12, finding 1):
- the pages and the button exist only for users who may ``manage_warehouse_access`` in that
  warehouse (403 otherwise; a warehouse the user may not see is a 404, as everywhere);
- the user and group forms offer only the rights the actor holds in that warehouse, and the
  POST goes through ``warehouse_access_set``, which checks again (a crafted POST is refused by
  the form and, failing that, by the service) and writes the audit rows.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from guardian.admin import GroupManage, GuardedModelAdminMixin, UserManage
from guardian.shortcuts import get_group_perms, get_groups_with_perms, get_user_perms, get_users_with_perms

from .access import WarehouseAccessDenied, warehouse_access_grantable, warehouse_access_set, warehouse_rights
from .models import Warehouse, WarehouseAccessChange
from .permissions import PermittedWarehouseFilter, WarehouseAction, WarehouseScopedAdminMixin, warehouse_allows


class WarehouseAccessForm(forms.Form):
    """The rights of one user or group in one warehouse, limited to those the actor manages."""

    permissions = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": "You may not grant or revoke %(value)s in this warehouse: "
            "only the rights you hold here yourself are yours to give."
        },
    )

    def __init__(self, *args: Any, actor: Any, warehouse: Warehouse, current: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = warehouse_rights()
        grantable = warehouse_access_grantable(actor, warehouse)
        field = self.fields["permissions"]
        field.choices = [(codename, names[codename]) for codename in grantable]
        field.initial = sorted(current & set(grantable))
        others = sorted(current - set(grantable))
        if others:
            field.help_text = "Also held here, not yours to change: " + ", ".join(names[c] for c in others) + "."


class WarehouseAccessAdminMixin(GuardedModelAdminMixin):
    """guardian's three pages (``<id>/permissions/``, ``.../user-manage/<uid>/``,
    ``.../group-manage/<gid>/``) with the checks above; its own templates are kept."""

    change_form_template = "admin/catalog/warehouse/change_form_access.html"

    def render_change_form(self, request: HttpRequest, context: dict, *args: Any, obj: Any = None, **kwargs: Any):  # noqa: ANN201
        context["can_manage_access"] = obj is not None and warehouse_allows(
            request.user, obj, WarehouseAction.MANAGE_ACCESS
        )
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def _access_warehouse(self, request: HttpRequest, object_pk: str) -> Warehouse:
        warehouse = self.get_object(request, object_pk)  # scoped: another warehouse is a 404
        if warehouse is None:
            raise Http404(f"No warehouse with id {object_pk!r} here.")
        if not warehouse_allows(request.user, warehouse, WarehouseAction.MANAGE_ACCESS):
            raise PermissionDenied(
                f"Granting and revoking rights in warehouse {warehouse.code} needs "
                f"'{WarehouseAction.LABELS[WarehouseAction.MANAGE_ACCESS]}' there."
            )
        return warehouse

    def _url(self, name: str, *args: Any) -> str:
        opts = self.model._meta
        return reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}", args=args)

    def obj_perms_manage_view(self, request: HttpRequest, object_pk: str) -> HttpResponse:
        """Who holds object grants here, and a form to pick a user or group to manage."""
        warehouse = self._access_warehouse(request, object_pk)
        user_form = UserManage(request.POST if "submit_manage_user" in request.POST else None)
        group_form = GroupManage(request.POST if "submit_manage_group" in request.POST else None)
        if request.method == "POST" and user_form.is_bound and user_form.is_valid():
            return redirect(self._url("permissions_manage_user", warehouse.pk, user_form.cleaned_data["user"].pk))
        if request.method == "POST" and group_form.is_bound and group_form.is_valid():
            return redirect(self._url("permissions_manage_group", warehouse.pk, group_form.cleaned_data["group"].pk))
        username = get_user_model().USERNAME_FIELD
        users = get_users_with_perms(warehouse, attach_perms=True, with_group_users=False).items()
        groups = get_groups_with_perms(warehouse, attach_perms=True).items()
        context = self.get_obj_perms_base_context(request, warehouse)
        context["users_perms"] = OrderedDict(sorted(users, key=lambda pair: getattr(pair[0], username)))
        context["groups_perms"] = OrderedDict(sorted(groups, key=lambda pair: pair[0].name))
        context["user_form"] = user_form if user_form.is_bound else UserManage()
        context["group_form"] = group_form if group_form.is_bound else GroupManage()
        request.current_app = self.admin_site.name
        return render(request, self.get_obj_perms_manage_template(), context)

    def obj_perms_manage_user_view(self, request: HttpRequest, object_pk: str, user_id: str) -> HttpResponse:
        warehouse = self._access_warehouse(request, object_pk)
        grantee = _get_or_404(get_user_model(), user_id)
        return self._manage(request, warehouse, user=grantee)

    def obj_perms_manage_group_view(self, request: HttpRequest, object_pk: str, group_id: str) -> HttpResponse:
        warehouse = self._access_warehouse(request, object_pk)
        grantee = _get_or_404(Group, group_id)
        return self._manage(request, warehouse, group=grantee)

    def _manage(
        self, request: HttpRequest, warehouse: Warehouse, *, user: Any = None, group: Any = None
    ) -> HttpResponse:
        held = get_user_perms(user, warehouse) if user is not None else get_group_perms(group, warehouse)
        current = set(held.values_list("codename", flat=True))
        data = request.POST if request.method == "POST" else None
        form = WarehouseAccessForm(data, actor=request.user, warehouse=warehouse, current=current)
        if form.is_bound and form.is_valid():
            try:
                granted, revoked = warehouse_access_set(
                    warehouse=warehouse,
                    actor=request.user,
                    user=user,
                    group=group,
                    perms=form.cleaned_data["permissions"],
                )
            except WarehouseAccessDenied as refused:
                form.add_error("permissions", str(refused))
            else:
                messages.success(request, _saved_message(warehouse, granted, revoked))
                return HttpResponseRedirect(request.path)
        context = self.get_obj_perms_base_context(request, warehouse)
        context["form"] = form
        if user is not None:
            context["user_obj"], context["user_perms"] = user, held
            template = self.get_obj_perms_manage_user_template()
        else:
            context["group_obj"], context["group_perms"] = group, held
            template = self.get_obj_perms_manage_group_template()
        request.current_app = self.admin_site.name
        return render(request, template, context, status=400 if form.is_bound else 200)


def _get_or_404(model: Any, pk: str) -> Any:
    try:
        return model._default_manager.get(pk=pk)
    except (model.DoesNotExist, ValueError, ValidationError):
        raise Http404(f"No {model._meta.verbose_name} with id {pk!r}.") from None


def _saved_message(warehouse: Warehouse, granted: list[str], revoked: list[str]) -> str:
    names = warehouse_rights()
    parts = []
    if granted:
        parts.append("granted " + ", ".join(names[c] for c in granted))
    if revoked:
        parts.append("revoked " + ", ".join(names[c] for c in revoked))
    if not parts:
        return f"Nothing changed in {warehouse.code}."
    return f"In {warehouse.code}: " + "; ".join(parts) + " (recorded in the audit trail)."


@admin.register(WarehouseAccessChange)
class WarehouseAccessChangeAdmin(WarehouseScopedAdminMixin, admin.ModelAdmin):
    """Every grant and revoke of warehouse rights, read-only (the rows are append-only); scoped
    to the warehouses where the user may view stock."""

    warehouse_lookups = ("warehouse",)
    list_display = ["at", "actor_name", "kind", "permission", "grantee_name", "warehouse"]
    list_filter = ["kind", "permission", PermittedWarehouseFilter]
    list_select_related = ["warehouse"]
    search_fields = ["actor_name", "grantee_name", "permission"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

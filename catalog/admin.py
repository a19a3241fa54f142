"""The managers' admin for master data: thin adapters over ``catalog.services``.

Every model keeps its history (simple_history; the request middleware records the user).
Categories and items are saved through their services so derived fields (``path``, the
valuation method) stay right. Virtual locations cannot be deleted here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import ngettext
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ExportForm, ImportForm
from simple_history.admin import SimpleHistoryAdmin

from common.replica import replica_reads

from . import auth_admin  # noqa: F401 - re-registers the user and group admin (no escalation)
from .access_admin import WarehouseAccessAdminMixin
from .importing.reading import ImportFileError
from .models import Barcode, Category, Item, Location, UnitOfMeasure, Warehouse
from .permissions import (
    PermittedWarehouseFilter,
    WarehouseAction,
    WarehouseScopedAdminMixin,
    warehouse_allows,
    warehouses_for,
)
from .resources import FORMATS, CategoryResource, ItemResource, LocationResource
from .selectors import DataProblemKind, data_quality_problems
from .services import category_save, item_save, items_discontinue, location_save, warehouse_save

NOT_MANAGED = (
    "You may not edit locations in that warehouse: it needs 'edit the warehouse and its locations' "
    "there. Choose one of the warehouses offered."
)


def _is_autocomplete_for(request: HttpRequest, model_name: str, field_name: str) -> bool:
    """Is this an admin autocomplete request filling ``model_name.field_name``?"""
    return request.GET.get("model_name") == model_name and request.GET.get("field_name") == field_name


class InventoryImportExportMixin(ImportExportMixin):
    """Import (dry-run preview, then all rows or none) and export (the list's rows, as
    filtered and scoped, in CSV or XLSX) with the resources of ``catalog.resources``.

    Import needs ``import_permissions`` (default: add and change of the model); export needs
    view permission. The admin's own change-list template (and its links) stays the base of
    the page that adds the Import and Export buttons."""

    import_formats = FORMATS
    export_formats = FORMATS
    import_template_name = "admin/catalog/import_preview.html"
    import_export_change_list_template = "admin/catalog/change_list_import_export.html"
    export_form_class = ExportForm
    import_permissions: tuple[str, ...] | None = None

    def get_import_permissions(self) -> tuple[str, ...]:
        if self.import_permissions is not None:
            return self.import_permissions
        opts = self.model._meta
        return (f"{opts.app_label}.add_{opts.model_name}", f"{opts.app_label}.change_{opts.model_name}")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return all(request.user.has_perm(perm) for perm in self.get_import_permissions())

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if self.ie_base_change_list_template == "admin/change_list.html":
            # No explicit change_list_template: the one Django would have picked for this model.
            opts = self.model._meta
            self.ie_base_change_list_template = select_template(
                [
                    f"admin/{opts.app_label}/{opts.model_name}/change_list.html",
                    f"admin/{opts.app_label}/change_list.html",
                    "admin/change_list.html",
                ]
            ).template.name
        return super().changelist_view(request, extra_context)

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = super().get_import_data_kwargs(**kwargs)
        kwargs.pop("request", None)
        kwargs["rollback_on_validation_errors"] = True  # all rows or none, also on confirm
        return kwargs

    def add_data_read_fail_error_to_form(self, form: forms.Form, e: Exception) -> None:
        if isinstance(e, ImportFileError):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            problems = [
                f"row {e['row']}: {'; '.join(e['details'])}" for e in result.inventory_report if e["status"] == "error"
            ]
            problems += [str(e.error) for e in result.base_errors]
            self.message_user(request, "Nothing was imported: " + " | ".join(problems[:5]), messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_import"))
        return super().process_result(result, request)

    def get_export_data(self, *args: Any, **kwargs: Any) -> Any:
        """The export file's rows, read from the replica when there is one (common/replica.py)."""
        with replica_reads():
            return super().get_export_data(*args, **kwargs)

    def get_valid_export_item_pks(self, request: HttpRequest) -> Any:
        return self.get_export_queryset(request).values_list("pk", flat=True)


class ItemImportForm(ImportForm):
    create_categories = forms.BooleanField(
        required=False, help_text="Create the categories the file names that do not exist yet."
    )


class ItemConfirmImportForm(ConfirmImportForm):
    create_categories = forms.BooleanField(required=False, widget=forms.HiddenInput)


@admin.register(Category)
class CategoryAdmin(InventoryImportExportMixin, SimpleHistoryAdmin):
    resource_classes = [CategoryResource]

    list_display = ["path", "name", "valuation_method"]
    list_filter = ["valuation_method"]
    search_fields = ["name", "path"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path"]
    fields = ["name", "parent", "path", "valuation_method"]
    ordering = ["path"]

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        obj._history_user = request.user
        category_save(category=obj)  # keeps ``path`` of the category and its descendants


@admin.register(UnitOfMeasure)
class UnitOfMeasureAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "dimension", "ratio", "decimal_places"]
    list_filter = ["dimension"]
    search_fields = ["code", "name"]
    ordering = ["dimension", "code"]


class BarcodeInline(admin.TabularInline):
    model = Barcode
    extra = 1
    fields = ["code", "kind"]


@admin.register(Item)
class ItemAdmin(InventoryImportExportMixin, SimpleHistoryAdmin):
    resource_classes = [ItemResource]
    import_form_class = ItemImportForm
    confirm_form_class = ItemConfirmImportForm

    list_display = [
        "sku",
        "name",
        "category",
        "base_unit",
        "status",
        "tracking",
        "perishable",
        "standard_cost",
        "valuation_method",
    ]
    list_filter = ["status", "tracking", "perishable", "valuation_method", "base_unit", "category"]
    list_select_related = ["category", "base_unit"]
    search_fields = ["sku", "name", "=barcodes__code"]
    autocomplete_fields = ["category", "base_unit", "purchase_unit", "sales_unit"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [BarcodeInline]
    actions = ["discontinue_selected"]
    fieldsets = [
        (None, {"fields": ["sku", "name", "description", "category", "status", "discontinued_on"]}),
        (
            "Units",
            {
                "fields": ["base_unit", ("purchase_unit", "purchase_factor"), ("sales_unit", "sales_factor")],
                "description": "Quantities are kept in the base unit. A factor is the number of base units "
                "in one purchase or sales unit; leave it empty where the units convert.",
            },
        ),
        (
            "Tracking and cost",
            {"fields": ["tracking", "perishable", "shelf_life_days", "standard_cost", "valuation_method"]},
        ),
        (
            "Dimensions",
            {"classes": ["collapse"], "fields": ["weight_kg", ("length_cm", "width_cm", "height_cm")]},
        ),
        ("Record", {"classes": ["collapse"], "fields": ["created_at", "updated_at"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Item, form: Any, change: bool) -> None:
        obj._history_user = request.user
        item_save(item=obj)  # a new item without valuation method takes its category's

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        form = kwargs.get("form")
        create = bool(getattr(form, "cleaned_data", {}).get("create_categories")) if form is not None else False
        return {**super().get_import_resource_kwargs(request, **kwargs), "create_categories": create}

    def get_confirm_form_initial(self, request: HttpRequest, import_form: Any) -> dict[str, Any]:
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["create_categories"] = import_form.cleaned_data.get("create_categories", False)
        return initial

    # Rows of the ledger name items and are never deleted (stock: movements, levels, valuations).
    LEDGER_RELATIONS = ("movements", "stock_levels", "valuations")

    def _has_stock_history(self, item: Item) -> bool:
        return any(getattr(item, name).exists() for name in self.LEDGER_RELATIONS if hasattr(item, name))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """An item with stock history cannot be deleted by anyone (the ledger keeps it): say so,
        instead of Django's "your account doesn't have permission to delete movement", which
        even a superuser saw."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        kept = [obj for obj in objs if self._has_stock_history(obj)]
        if kept:
            perms_needed = set()
            protected = [
                f"{obj}: has stock history, which the ledger keeps for ever; discontinue the item instead"
                for obj in kept
            ] + list(protected)
        return deleted, counts, perms_needed, protected

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        item = self.get_object(request, object_id)
        if item is not None and request.method == "GET" and self._has_stock_history(item):
            self.message_user(
                request,
                f"{item} has stock history (movements in the ledger, which are never deleted), so it cannot be "
                'deleted. Discontinue it instead (the list\'s action "Discontinue selected items").',
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:catalog_item_change", args=[item.pk]))
        return super().delete_view(request, object_id, extra_context)

    @admin.action(description="Discontinue selected items", permissions=["change"])
    def discontinue_selected(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        changed = items_discontinue(items=queryset.order_by("pk"), actor=request.user)
        self.message_user(
            request,
            ngettext("%d item discontinued.", "%d items discontinued.", changed) % changed,
            messages.SUCCESS,
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "data-quality/",
                self.admin_site.admin_view(self.data_quality_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_data_quality",
            ),
            *super().get_urls(),
        ]

    def data_quality_view(self, request: HttpRequest) -> HttpResponse:
        """Master-data problems (``catalog.selectors.data_quality_problems``), grouped by kind."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        problems = data_quality_problems()
        groups = [(kind.label, [p for p in problems if p.kind == kind]) for kind in DataProblemKind]
        context = {
            **self.admin_site.each_context(request),
            "title": "Data quality",
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "groups": [(label, rows) for label, rows in groups if rows],
            "problem_count": len(problems),
        }
        return TemplateResponse(request, "admin/catalog/data_quality.html", context)


@admin.register(Barcode)
class BarcodeAdmin(SimpleHistoryAdmin):
    list_display = ["code", "kind", "item"]
    list_filter = ["kind"]
    list_select_related = ["item"]
    search_fields = ["code", "item__sku", "item__name"]
    autocomplete_fields = ["item"]


@admin.register(Warehouse)
class WarehouseAdmin(WarehouseScopedAdminMixin, WarehouseAccessAdminMixin, SimpleHistoryAdmin):
    """Object permissions (guardian) on a warehouse scope what users may do there: the
    "Object permissions" button on the change page assigns them (per user and per group), for
    those who may manage access there (``catalog.access_admin``). Users see only the
    warehouses where they may view stock."""

    warehouse_lookups = ("pk",)

    list_display = ["code", "name", "time_zone", "allow_negative_stock", "active"]
    list_filter = ["active", "allow_negative_stock"]
    search_fields = ["code", "name"]

    def has_change_permission(self, request: HttpRequest, obj: Warehouse | None = None) -> bool:
        """Editing a warehouse needs MANAGE in it; others' change pages are read-only."""
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or warehouse_allows(request.user, obj, WarehouseAction.MANAGE))

    def has_delete_permission(self, request: HttpRequest, obj: Warehouse | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or warehouse_allows(request.user, obj, WarehouseAction.MANAGE))

    def get_form(self, request: HttpRequest, obj: Warehouse | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if "allow_negative_stock" in form.base_fields:
            form.base_fields[
                "allow_negative_stock"
            ].help_text += " Cannot be switched off while any stock level of the warehouse is below zero."
        return form

    def save_model(self, request: HttpRequest, obj: Warehouse, form: Any, change: bool) -> None:
        warehouse_save(warehouse=obj, actor=request.user)  # MANAGE in it; negative stock rule

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if _is_autocomplete_for(request, "location", "warehouse"):
            queryset = queryset.filter(pk__in=warehouses_for(request.user, WarehouseAction.MANAGE))
        return super().get_search_results(request, queryset, search_term)


@admin.register(Location)
class LocationAdmin(WarehouseScopedAdminMixin, InventoryImportExportMixin, SimpleHistoryAdmin):
    resource_classes = [LocationResource]

    warehouse_lookups = ("warehouse",)
    include_unassigned = True  # the virtual locations belong to no warehouse
    list_display = ["code", "name", "warehouse", "kind", "level", "parent", "barcode", "active"]
    list_filter = ["kind", "level", "active", PermittedWarehouseFilter]
    list_select_related = ["warehouse", "parent__warehouse"]
    search_fields = ["code", "name", "barcode"]
    autocomplete_fields = ["warehouse", "parent"]

    @staticmethod
    def _stored(obj: Location | None) -> Location | None:
        """The location as saved. A refused change form has already copied the posted values
        onto ``obj``: the page's permissions and read-only fields must follow the stored row,
        or a refused move to a virtual kind or another warehouse would hide its own error."""
        if obj is None or obj.pk is None:
            return obj
        return Location.objects.filter(pk=obj.pk).only("kind", "warehouse_id").first() or obj

    def _may_manage(self, request: HttpRequest, obj: Location | None) -> bool:
        """MANAGE in the location's warehouse; virtual locations need it everywhere."""
        obj = self._stored(obj)
        return obj is None or warehouse_allows(request.user, obj.warehouse_id, WarehouseAction.MANAGE)

    def has_add_permission(self, request: HttpRequest) -> bool:
        allowed = super().has_add_permission(request)
        return allowed and warehouses_for(request.user, WarehouseAction.MANAGE).exists()

    def has_change_permission(self, request: HttpRequest, obj: Location | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_manage(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """Warehouse and parent offer only warehouses where the user may MANAGE; another one in a
        crafted POST is a form error naming why."""
        managed = warehouses_for(request.user, WarehouseAction.MANAGE)
        if db_field.name == "warehouse":
            kwargs["queryset"] = managed
            kwargs["error_messages"] = {"invalid_choice": NOT_MANAGED}
        elif db_field.name == "parent":
            kwargs["queryset"] = Location.objects.internal().filter(warehouse__in=managed)
            kwargs["error_messages"] = {"invalid_choice": NOT_MANAGED}
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if _is_autocomplete_for(request, "location", "parent"):
            queryset = queryset.internal().filter(warehouse__in=warehouses_for(request.user, WarehouseAction.MANAGE))
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request: HttpRequest, obj: Location, form: Any, change: bool) -> None:
        location_save(location=obj, actor=request.user)  # MANAGE in both warehouses; what freezes

    def get_readonly_fields(self, request: HttpRequest, obj: Location | None = None) -> list[str]:
        stored = self._stored(obj)
        if stored is not None and not stored.is_internal:
            # Virtual locations are fixed points of the ledger: only their name and state change.
            return ["warehouse", "parent", "code", "kind", "level", "barcode"]
        return list(super().get_readonly_fields(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Location | None = None) -> bool:
        stored = self._stored(obj)
        if stored is not None and not stored.is_internal:
            return False
        return super().has_delete_permission(request, obj) and self._may_manage(request, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], list[Any]]:
        """The bulk delete action checks model permissions only; refuse it when the selection
        holds a virtual location (Django then deletes nothing and says why)."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if any(not location.is_internal for location in objs):
            perms_needed = {*perms_needed, "virtual location"}
        if any(not self._may_manage(request, location) for location in objs):
            perms_needed = {*perms_needed, "location of a warehouse you do not manage"}
        return deleted, model_count, perms_needed, protected

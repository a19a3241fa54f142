"""The managers' admin for master data: thin adapters over ``catalog.services``.

Every model keeps its history (simple_history; the request middleware records the user).
Categories and items are saved through their services so derived fields (``path``, the
valuation method) stay right. Virtual locations cannot be deleted here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import ngettext
from guardian.admin import GuardedModelAdminMixin
from simple_history.admin import SimpleHistoryAdmin

from .models import Barcode, Category, Item, Location, UnitOfMeasure, Warehouse
from .permissions import PermittedWarehouseFilter, WarehouseScopedAdminMixin
from .selectors import DataProblemKind, data_quality_problems
from .services import category_save, item_save, items_discontinue


@admin.register(Category)
class CategoryAdmin(SimpleHistoryAdmin):
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
    list_display = ["code", "name", "dimension", "ratio"]
    list_filter = ["dimension"]
    search_fields = ["code", "name"]
    ordering = ["dimension", "code"]


class BarcodeInline(admin.TabularInline):
    model = Barcode
    extra = 1
    fields = ["code", "kind"]


@admin.register(Item)
class ItemAdmin(SimpleHistoryAdmin):
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
class WarehouseAdmin(WarehouseScopedAdminMixin, GuardedModelAdminMixin, SimpleHistoryAdmin):
    """Object permissions (guardian) on a warehouse scope what users may do there: the
    "Object permissions" button on the change page assigns them (per user and per group).
    Users see only the warehouses where they may view stock."""

    warehouse_lookups = ("pk",)

    list_display = ["code", "name", "time_zone", "allow_negative_stock", "active"]
    list_filter = ["active", "allow_negative_stock"]
    search_fields = ["code", "name"]


@admin.register(Location)
class LocationAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookups = ("warehouse",)
    include_unassigned = True  # the virtual locations belong to no warehouse
    list_display = ["code", "name", "warehouse", "kind", "level", "parent", "barcode", "active"]
    list_filter = ["kind", "level", "active", PermittedWarehouseFilter]
    list_select_related = ["warehouse", "parent__warehouse"]
    search_fields = ["code", "name", "barcode"]
    autocomplete_fields = ["warehouse", "parent"]

    def get_readonly_fields(self, request: HttpRequest, obj: Location | None = None) -> list[str]:
        if obj is not None and not obj.is_internal:
            # Virtual locations are fixed points of the ledger: only their name and state change.
            return ["warehouse", "parent", "code", "kind", "level", "barcode"]
        return list(super().get_readonly_fields(request, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Location | None = None) -> bool:
        if obj is not None and not obj.is_internal:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], list[Any]]:
        """The bulk delete action checks model permissions only; refuse it when the selection
        holds a virtual location (Django then deletes nothing and says why)."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if any(not location.is_internal for location in objs):
            perms_needed = {*perms_needed, "virtual location"}
        return deleted, model_count, perms_needed, protected

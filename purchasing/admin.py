"""Admin for purchasing: suppliers with their offers, reorder policies with the suggestions page
(and draft orders made from it), purchase orders with place/cancel actions and a receiving page.

A draft order and its lines are edited in the admin's forms (the model's constraints validate
them); every change of state goes through ``purchasing.services`` (place, cancel, receive,
orders from suggestions), whose refusals show as messages, never as errors. Orders, policies
and suggestions are scoped to the user's warehouses; another warehouse's order is a 404.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from catalog.models import Location, LocationKind
from catalog.permissions import PermittedWarehouseFilter, WarehouseScopedAdminMixin, warehouses_for
from catalog.units import check_quantity, quantity_column
from common.numbers import DecimalNumberField
from stock.services import StockError

from .landed_costs_admin import landed_cost_view
from .models import (
    OPEN_STATUSES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    ReorderPolicy,
    Supplier,
    SupplierItem,
)
from .selectors import policies_with_position, reorder_suggestions
from .services import (
    Receipt,
    purchase_order_cancel,
    purchase_order_place,
    purchase_order_receive,
    purchase_orders_from_suggestions,
    quantity_text,
)


class WarehouseChoicesMixin:
    """Warehouse drop-downs offer only the user's warehouses."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # noqa: ANN001, ANN201 - Django signature
        if db_field.name == "warehouse":
            kwargs["queryset"] = warehouses_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SupplierItemInline(admin.TabularInline):
    model = SupplierItem
    extra = 1
    autocomplete_fields = ["item"]
    fields = ["item", "supplier_sku", "unit_cost", "lead_time_days", "min_order_quantity", "order_multiple"]
    fields += ["preferred"]


@admin.register(Supplier)
class SupplierAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "email", "lead_time_days", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name", "email"]
    inlines = [SupplierItemInline]


@admin.register(SupplierItem)
class SupplierItemAdmin(SimpleHistoryAdmin):
    list_display = ["item", "supplier", "supplier_sku", "unit_cost", "lead_time_days", "min_order_quantity_display"]
    list_display += ["order_multiple_display", "preferred"]
    list_filter = ["preferred", ("supplier", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["item__sku", "item__name", "supplier__code", "supplier_sku"]
    autocomplete_fields = ["item", "supplier"]
    list_select_related = ["item__base_unit", "supplier"]

    min_order_quantity_display = quantity_column("min_order_quantity", "min order quantity")
    order_multiple_display = quantity_column("order_multiple", "order multiple")


@admin.register(ReorderPolicy)
class ReorderPolicyAdmin(WarehouseChoicesMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookups = ("warehouse",)
    list_display = ["item", "warehouse", "reorder_point_display", "safety_stock_display", "order_up_to_display"]
    list_display += ["available", "on_order"]
    list_filter = [PermittedWarehouseFilter]
    search_fields = ["item__sku", "item__name"]
    autocomplete_fields = ["item"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return policies_with_position(request.user)

    reorder_point_display = quantity_column("reorder_point", "reorder point")
    safety_stock_display = quantity_column("safety_stock", "safety stock")
    order_up_to_display = quantity_column("order_up_to", "order up to")
    available = quantity_column("available")
    on_order = quantity_column("on_order", "on order")

    def get_urls(self):  # noqa: ANN201 - Django signature
        view = self.admin_site.admin_view(self.suggestions_view)
        return [path("suggestions/", view, name="purchasing_suggestions"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "suggestions_url": reverse("admin:purchasing_suggestions")}
        return super().changelist_view(request, extra_context)

    def suggestions_view(self, request: HttpRequest) -> HttpResponse:
        """What to reorder now, in the user's warehouses; POST makes draft orders of it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        suggestions = reorder_suggestions(user=request.user)
        may_order = request.user.has_perm("purchasing.add_purchaseorder")
        if request.method == "POST":
            if not may_order:
                raise PermissionDenied
            try:
                orders = purchase_orders_from_suggestions(suggestions=suggestions, actor=request.user)
            except StockError as exc:
                self.message_user(request, f"No order was made: {exc}", messages.ERROR)
                return HttpResponseRedirect(request.path)
            names = ", ".join(o.number for o in orders) or "none (no suggestion has a supplier)"
            self.message_user(request, f"Draft purchase orders made: {names}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:purchasing_purchaseorder_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Reorder suggestions",
            "opts": self.model._meta,
            "suggestions": suggestions,
            "may_order": may_order and any(s.supplier_item for s in suggestions),
        }
        return TemplateResponse(request, "admin/purchasing/suggestions.html", context)


class PurchaseOrderLineForm(forms.ModelForm):
    """A draft line: its quantity as fine as the item's unit allows (catalog.units), as
    ``purchase_order_create`` requires."""

    class Meta:
        model = PurchaseOrderLine
        fields = ["item", "quantity", "unit_cost"]

    def clean(self) -> dict:
        data = super().clean()
        item, quantity = data.get("item"), data.get("quantity")
        if item is not None and quantity is not None:
            check_quantity(item, quantity, field="quantity")
        return data


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    form = PurchaseOrderLineForm
    extra = 1
    autocomplete_fields = ["item"]
    fields = ["item", "quantity", "unit_cost", "received_quantity_display"]
    readonly_fields = ["received_quantity_display"]
    received_quantity_display = quantity_column("received_quantity", "received quantity")
    quantity_display = quantity_column("quantity")

    def _draft(self, obj: PurchaseOrder | None) -> bool:
        return obj is None or obj.status == PurchaseOrderStatus.DRAFT

    def get_fields(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> list[str]:
        """A placed order's lines are read-only: the quantity then shows with its unit ("36 each")."""
        if self._draft(obj):
            return list(self.fields)
        return ["item", "quantity_display", "unit_cost", "received_quantity_display"]

    def get_readonly_fields(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if self._draft(obj) else [*fields, "quantity_display"]

    def has_add_permission(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> bool:
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> bool:
        return self._draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> bool:
        return self._draft(obj) and super().has_delete_permission(request, obj)


class ReceiveLineForm(forms.Form):
    line = forms.IntegerField(widget=forms.HiddenInput)
    quantity = DecimalNumberField(min_value=Decimal(0), max_digits=18, decimal_places=4, required=False)
    location = forms.ModelChoiceField(queryset=Location.objects.none(), required=False)
    lot = forms.CharField(max_length=100, required=False)
    expiry_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, locations: QuerySet, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations


ReceiveFormSet = forms.formset_factory(ReceiveLineForm, extra=0)


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(WarehouseChoicesMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    warehouse_lookups = ("warehouse",)
    list_display = ["number", "supplier", "warehouse", "status", "expected_on", "ordered_at", "receive_link"]
    list_filter = ["status", PermittedWarehouseFilter, ("supplier", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=id", "supplier__code", "supplier__name", "lines__item__sku"]
    list_select_related = ["supplier", "warehouse"]
    autocomplete_fields = ["supplier"]
    inlines = [PurchaseOrderLineInline]
    actions = ["place_orders", "cancel_orders", "allocate_landed_cost"]
    readonly_fields = ["status", "ordered_at", "created_by", "receive_link"]

    def get_readonly_fields(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != PurchaseOrderStatus.DRAFT:
            fields += ["supplier", "warehouse", "expected_on"]
        return fields

    def save_model(self, request: HttpRequest, obj: PurchaseOrder, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="receive")
    def receive_link(self, obj: PurchaseOrder) -> str:
        if obj.pk is None or obj.status not in OPEN_STATUSES:
            return ""
        url = reverse("admin:purchasing_purchaseorder_receive", args=[obj.pk])
        return format_html('<a href="{}">Receive…</a>', url)

    def _each(self, request: HttpRequest, queryset: QuerySet, action, done: str) -> None:  # noqa: ANN001
        for order in queryset:
            try:
                action(order=order, actor=request.user)
            except StockError as exc:  # includes PurchasingError and permission refusals
                self.message_user(request, f"{order.number}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{order.number} {done}.", messages.SUCCESS)

    @admin.action(description="Place selected draft orders", permissions=["change"])
    def place_orders(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, purchase_order_place, "placed")

    @admin.action(description="Cancel selected orders", permissions=["change"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, purchase_order_cancel, "cancelled")

    @admin.action(description="Allocate a landed cost to the selected orders…", permissions=["change"])
    def allocate_landed_cost(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:purchasing_purchaseorder_landed_cost')}?orders={ids}")

    def get_urls(self):  # noqa: ANN201 - Django signature
        view = self.admin_site.admin_view(self.receive_view)
        landed = self.admin_site.admin_view(partial(landed_cost_view, self))
        return [
            path("<int:pk>/receive/", view, name="purchasing_purchaseorder_receive"),
            path("landed-cost/", landed, name="purchasing_purchaseorder_landed_cost"),
            *super().get_urls(),
        ]

    def receive_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """One row per line with what is outstanding: quantity, bin, lot and expiry. Posting
        receives them all at once (``purchase_order_receive``), idempotent by the form's key."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        order = get_object_or_404(self.get_queryset(request), pk=pk)
        lines = list(order.lines.select_related("item"))
        locations = Location.objects.filter(warehouse=order.warehouse, kind=LocationKind.INTERNAL, active=True)
        initial = [
            {"line": line.pk, "quantity": quantity_text(line.outstanding)} for line in lines if line.outstanding > 0
        ]
        formset = ReceiveFormSet(
            request.POST if request.method == "POST" else None, initial=initial, form_kwargs={"locations": locations}
        )
        key = request.POST.get("idempotency_key") or f"admin-receipt:{uuid.uuid4()}"
        if request.method == "POST" and formset.is_valid():
            by_pk = {line.pk: line for line in lines}
            receipts, missing = [], []
            for row in formset.cleaned_data:
                line = by_pk.get(row.get("line"))
                if line is None or not row.get("quantity"):
                    continue
                if row.get("location") is None:
                    missing.append(line.item.sku)
                    continue
                receipts.append(Receipt(line, row["quantity"], row["location"], row["lot"], row["expiry_date"]))
            try:
                if missing:
                    raise StockError(f"Choose where {', '.join(missing)} goes.")
                purchase_order_receive(order=order, receipts=receipts, actor=request.user, idempotency_key=key)
            except (StockError, PermissionDenied) as exc:
                self.message_user(request, f"Nothing was received: {exc}", messages.ERROR)
            else:
                order.refresh_from_db()
                self.message_user(
                    request, f"{order.number}: received; now {order.get_status_display().lower()}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:purchasing_purchaseorder_change", args=[order.pk]))
        by_text = {str(line.pk): line for line in lines}
        rows = [(form, by_text[str(form["line"].value())]) for form in formset if str(form["line"].value()) in by_text]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Receive {order.number} from {order.supplier}",
            "opts": self.model._meta,
            "order": order,
            "formset": formset,
            "rows": rows,
            "idempotency_key": key,
            "open": order.status in OPEN_STATUSES,
        }
        return TemplateResponse(request, "admin/purchasing/receive.html", context)

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
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from catalog.models import Location, LocationKind, LocationLevel
from catalog.permissions import PermittedWarehouseFilter, WarehouseScopedAdminMixin, warehouses_for
from catalog.units import check_quantity, quantity_column
from common.numbers import DecimalNumberField
from stock.models import StockLevel
from stock.services import StockError

from .documents import purchase_order_pdf, purchase_order_send
from .forms import SuggestionLineForm, SupplierReturnForm
from .landed_costs_admin import landed_cost_view
from .models import (
    OPEN_STATUSES,
    CategoryHoldingCost,
    PolicyMode,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderSending,
    PurchaseOrderStatus,
    ReorderPolicy,
    Supplier,
    SupplierItem,
)
from .replenishment import demand_chart, reorder_policy_compute
from .returns import purchase_order_return
from .selectors import policies_with_position, reorder_suggestions
from .services import (
    Receipt,
    purchase_order_cancel,
    purchase_order_place,
    purchase_order_receipt_problems,
    purchase_order_receive,
    purchase_orders_from_suggestions,
    quantity_text,
)


def each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    action,
    done: str,
    *,
    keyword: str,  # noqa: ANN001
) -> None:
    """An admin action: ``action(<keyword>=row, actor=user)`` per selected row, a message per
    row (its refusal, a ``StockError`` such as ``PurchasingError`` or a permission refusal, or
    ``done``)."""
    for row in queryset:
        name = str(row)
        try:
            action(**{keyword: row}, actor=request.user)
        except StockError as exc:
            model_admin.message_user(request, f"{name}: {exc}", messages.ERROR)
        else:
            model_admin.message_user(request, f"{name} {done}.", messages.SUCCESS)


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
    fields += ["preferred", "over_receipt_percent"]


@admin.register(Supplier)
class SupplierAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "email", "lead_time_days", "ordering_cost", "over_receipt_percent", "active"]
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


@admin.register(CategoryHoldingCost)
class CategoryHoldingCostAdmin(SimpleHistoryAdmin):
    list_display = ["category", "annual_percent"]
    search_fields = ["category__path"]


@admin.register(ReorderPolicy)
class ReorderPolicyAdmin(WarehouseChoicesMixin, WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    """Policies with their position; a policy's page shows, when computed, why each figure
    (``explanation``) and its demand history and forecast as a chart (``chart``)."""

    warehouse_lookups = ("warehouse",)
    list_display = ["item", "warehouse", "mode", "reorder_point_display", "safety_stock_display"]
    list_display += ["order_up_to_display", "available", "on_order"]
    list_filter = [PermittedWarehouseFilter, "mode"]
    search_fields = ["item__sku", "item__name"]
    autocomplete_fields = ["item"]
    fields = ["item", "warehouse", "mode", "service_level", "reorder_point", "safety_stock", "order_up_to"]
    fields += ["order_quantity", "computed_at", "why"]
    readonly_fields = ["order_quantity", "computed_at", "why"]
    actions = ["compute_policies"]
    change_form_template = "admin/purchasing/reorderpolicy/change_form.html"

    @admin.display(description="why these figures")
    def why(self, obj: ReorderPolicy) -> str:
        if obj.mode != PolicyMode.COMPUTED:
            return "Manual: the figures are typed in."
        if problem := obj.explanation.get("problem"):
            return problem
        figures = obj.explanation.get("figures", {})
        return format_html_join("", "<p><b>{}</b>: {}</p>", ((k.replace("_", " "), v) for k, v in figures.items()))

    @admin.action(description="Compute the selected policies from their forecasts", permissions=["change"])
    def compute_policies(self, request: HttpRequest, queryset: QuerySet) -> None:
        each(self, request, queryset, reorder_policy_compute, "computed", keyword="policy")

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):  # noqa: ANN001, ANN201
        policy = self.get_object(request, object_id)
        if policy is not None:
            extra_context = {**(extra_context or {}), "demand_chart": demand_chart(policy)}
        return super().change_view(request, object_id, form_url, extra_context)

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
        """What to reorder now, in the user's warehouses; each line can be chosen or not, its
        quantity and supplier changed; POST makes (or updates) draft orders of the chosen lines,
        all lines checked first and every problem shown at once, nothing written then."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        suggestions = reorder_suggestions(user=request.user)
        may_order = request.user.has_perm("purchasing.add_purchaseorder")
        posted = request.POST if request.method == "POST" else None
        lines = [SuggestionLineForm(posted, suggestion=s) for s in suggestions]
        if posted is not None:
            if not may_order:
                raise PermissionDenied
            valid = [form.is_valid() for form in lines]  # every line checked, so every error shows at once
            if all(valid):
                chosen = [s for s in (form.edited() for form in lines) if s is not None]
                if not chosen:
                    self.message_user(request, "Nothing was ordered: choose at least one line.", messages.WARNING)
                    return HttpResponseRedirect(request.path)
                try:
                    orders = purchase_orders_from_suggestions(suggestions=chosen, actor=request.user)
                except StockError as exc:
                    self.message_user(request, f"No order was made: {exc}", messages.ERROR)
                    return HttpResponseRedirect(request.path)
                names = ", ".join(o.number for o in orders)
                self.message_user(request, f"Draft purchase orders made or updated: {names}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:purchasing_purchaseorder_changelist"))
            self.message_user(request, "Nothing was ordered: correct the lines marked below.", messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "title": "Reorder suggestions",
            "opts": self.model._meta,
            "lines": lines,
            "suggestions": suggestions,
            "may_order": may_order and suggestions,
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


def usual_bins(bins: QuerySet, item_ids: list[int]) -> dict[int, list[int]]:
    """Per item id, the ids of ``bins`` that hold it or held it (a stock level exists), most
    on hand first: where the receiving page puts it by default."""
    usual: dict[int, list[int]] = {item_id: [] for item_id in item_ids}
    for item_id, location_id in (
        StockLevel.objects.filter(item_id__in=item_ids, location__in=bins)
        .order_by("item_id", "-on_hand", "location__code")
        .values_list("item_id", "location_id")
    ):
        if location_id not in usual[item_id]:
            usual[item_id].append(location_id)
    return usual


class PurchaseOrderSendingInline(admin.TabularInline):
    """Each time the order was mailed to the supplier (read-only: sending is a button)."""

    model = PurchaseOrderSending
    extra = 0
    fields = readonly_fields = ["sent_at", "sent_to", "sent_by", "error"]
    verbose_name_plural = "sent to the supplier"

    def has_add_permission(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PurchaseOrder | None = None) -> bool:
        return False


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
    list_display = ["number", "supplier", "warehouse", "status", "expected_on", "ordered_at", "total_display"]
    list_display += ["receive_link"]
    list_filter = ["status", PermittedWarehouseFilter, ("supplier", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=id", "supplier__code", "supplier__name", "lines__item__sku"]
    list_select_related = ["supplier", "warehouse"]
    autocomplete_fields = ["supplier"]
    inlines = [PurchaseOrderLineInline, PurchaseOrderSendingInline]
    actions = ["place_orders", "cancel_orders", "allocate_landed_cost"]
    readonly_fields = ["status", "ordered_at", "created_by", "receive_link", "total_display"]
    change_form_template = "admin/purchasing/purchaseorder/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # A subquery, not a join: the search on lines' SKUs must not count a line twice.
        amounts = (
            PurchaseOrderLine.objects.filter(order_id=OuterRef("pk"))
            .values("order_id")
            .annotate(total=Sum(F("quantity") * F("unit_cost"), output_field=DecimalField()))
            .values("total")
        )
        return super().get_queryset(request).annotate(total_amount=Subquery(amounts, output_field=DecimalField()))

    @admin.display(description="total", ordering="total_amount")
    def total_display(self, obj: PurchaseOrder) -> str:
        total = getattr(obj, "total_amount", None)
        total = obj.total if total is None else total
        return f"{total.quantize(Decimal('0.01'))} {settings.CURRENCY}"

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

    @admin.action(description="Place selected draft orders", permissions=["change"])
    def place_orders(self, request: HttpRequest, queryset: QuerySet) -> None:
        each(self, request, queryset, purchase_order_place, "placed", keyword="order")

    @admin.action(description="Cancel selected orders", permissions=["change"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet) -> None:
        each(self, request, queryset, purchase_order_cancel, "cancelled", keyword="order")

    @admin.action(description="Allocate a landed cost to the selected orders…", permissions=["change"])
    def allocate_landed_cost(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:purchasing_purchaseorder_landed_cost')}?orders={ids}")

    def get_urls(self):  # noqa: ANN201 - Django signature
        view = self.admin_site.admin_view(self.receive_view)
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/receive/", view, name="purchasing_purchaseorder_receive"),
            path("<int:pk>/do/<str:step>/", wrap(self.step_view), name="purchasing_purchaseorder_step"),
            path("<int:pk>/pdf/", wrap(self.pdf_view), name="purchasing_purchaseorder_pdf"),
            path("<int:pk>/return/", wrap(self.return_view), name="purchasing_purchaseorder_return"),
            path("landed-cost/", wrap(partial(landed_cost_view, self)), name="purchasing_purchaseorder_landed_cost"),
            *super().get_urls(),
        ]

    STEPS = {
        "place": (purchase_order_place, "placed"),
        "cancel": (purchase_order_cancel, "cancelled"),
        "send": (purchase_order_send, "sent to the supplier"),
    }

    def step_view(self, request: HttpRequest, pk: int, step: str) -> HttpResponse:
        """The order page's buttons (POST): place, cancel, send to the supplier; the service
        checks the rights again and its refusal shows as a message, nothing written."""
        if request.method != "POST" or step not in self.STEPS:
            raise Http404
        if not self.has_change_permission(request):
            raise PermissionDenied
        order = get_object_or_404(self.get_queryset(request), pk=pk)
        each(self, request, [order], self.STEPS[step][0], self.STEPS[step][1], keyword="order")
        return HttpResponseRedirect(reverse("admin:purchasing_purchaseorder_change", args=[pk]))

    def return_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Send received goods back to the supplier (``returns.purchase_order_return``); a
        refusal is a message and nothing is written."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        order = get_object_or_404(self.get_queryset(request), pk=pk)
        form = SupplierReturnForm(request.POST if request.method == "POST" else None, order=order)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                purchase_order_return(
                    order=order,
                    line=data["line"],
                    quantity=data["quantity"],
                    location=data["location"],
                    actor=request.user,
                    reason_code=data["reason_code"],
                    lot=data["lot"],
                )
            except StockError as exc:
                self.message_user(request, f"Nothing was returned: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{order.number}: returned to {order.supplier.code}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:purchasing_purchaseorder_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Return goods of {order.number} to {order.supplier}",
            "opts": self.model._meta,
            "order": order,
            "form": form,
        }
        return TemplateResponse(request, "admin/purchasing/return.html", context)

    def pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The order as the supplier gets it (``documents.purchase_order_pdf``)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        order = get_object_or_404(self.get_queryset(request), pk=pk)
        response = HttpResponse(purchase_order_pdf(order), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{order.number}.pdf"'
        return response

    def receive_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """One row per line with what is outstanding: quantity, bin, lot and expiry. Posting
        receives them all at once (``purchase_order_receive``), idempotent by the form's key."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        order = get_object_or_404(self.get_queryset(request), pk=pk)
        lines = list(order.lines.select_related("item"))
        bins = Location.objects.filter(
            warehouse=order.warehouse, kind=LocationKind.INTERNAL, level=LocationLevel.BIN, active=True
        )
        usual = usual_bins(bins, [line.item_id for line in lines])
        initial = [
            {
                "line": line.pk,
                "quantity": quantity_text(line.outstanding),
                "location": next(iter(usual[line.item_id]), None),
            }
            for line in lines
            if line.outstanding > 0
        ]
        formset = ReceiveFormSet(
            request.POST if request.method == "POST" else None, initial=initial, form_kwargs={"locations": bins}
        )
        item_of = {str(line.pk): line.item_id for line in lines}
        for form in formset:  # each line's usual bins first (those that hold or held the item)
            first = usual.get(item_of.get(str(form["line"].value())), [])
            form.fields["location"].queryset = bins.annotate(
                usual=Case(*[When(pk=pk, then=Value(n)) for n, pk in enumerate(first)], default=Value(len(first)))
            ).order_by("usual", "code")
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
                if missing:  # said together with every other problem of the form
                    problems = [f"Choose where {sku} goes." for sku in missing]
                    problems += [str(p) for p in purchase_order_receipt_problems(order=order, receipts=receipts)]
                    raise StockError(" ".join(problems))
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

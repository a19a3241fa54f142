"""Admin for the ledger: everything read-only; the only write is the reversal action, which goes
through ``stock.services.movement_reverse``. The stock card shows an item's movements with
running balance and value."""

from __future__ import annotations

from datetime import date, datetime, time
from urllib.parse import quote

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from catalog.admin import InventoryImportExportMixin
from catalog.models import Item, Location, Warehouse
from catalog.permissions import (
    PermittedWarehouseFilter,
    WarehouseAction,
    WarehouseScopedAdminMixin,
    warehouse_allows,
    warehouses_for,
)
from catalog.units import quantity_column
from common import admin as common_admin
from common.numbers import money_text

from .models import (
    AdjustmentRequest,
    CostLayer,
    ItemValuation,
    Lot,
    Movement,
    Reservation,
    ReservationLine,
    ShortPick,
    StockLevel,
)
from .resources import OpeningBalanceResource
from .selectors import lots_visible, stock_card
from .services import StockError, adjustment_request_approve, adjustment_request_reject, movement_reverse


class ReadOnlyAdmin(common_admin.ReadOnlyAdmin):
    """Ledger rows are written by the services only: no add, change or delete here.

    ``quantity_fields`` are shown on the change page by their ``<field>_display`` columns
    (``catalog.units.quantity_column``: "15 each", not "15.0000")."""

    quantity_fields: tuple[str, ...] = ()

    def get_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [f"{f}_display" if f in self.quantity_fields else f for f in super().get_fields(request, obj)]


class ReverseForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Why the movement is undone."
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the requests are turned down: the clerk who asked sees it.",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give the reason for rejecting.")
        return reason


class StockCardForm(forms.Form):
    """Item and period of a stock card. Users who may view stock only in some warehouses pick
    one of them; users with a global grant may leave it empty for all warehouses."""

    item = forms.CharField(label="SKU")
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none(), required=False)
    start = forms.DateField(required=False, help_text="YYYY-MM-DD")
    end = forms.DateField(required=False, help_text="YYYY-MM-DD")

    def __init__(self, *args, user, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["warehouse"].queryset = warehouses_for(user)
        self.fields["warehouse"].required = not warehouse_allows(user, None, WarehouseAction.VIEW)


@admin.register(Movement)
class MovementAdmin(WarehouseScopedAdminMixin, ReadOnlyAdmin):
    warehouse_lookups = ("source__warehouse", "destination__warehouse")
    list_display = [
        "id",
        "occurred_at",
        "kind",
        "item",
        "lot",
        "quantity_display",
        "source",
        "destination",
        "unit_cost",
        "total_cost",
        "reason_code",
        "reference",
        "actor",
        "reversal_state",
    ]
    list_filter = [
        "kind",
        PermittedWarehouseFilter,
        "occurred_at",
        "posted_at",
        ("actor", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["item__sku", "item__name", "lot__code", "reference_id", "idempotency_key", "note", "=id"]
    autocomplete_fields = ["item"]
    list_select_related = [
        "item__base_unit",
        "lot",
        "source__warehouse",
        "destination__warehouse",
        "actor",
        "reversed_by",
    ]
    quantity_fields = ("quantity",)
    quantity_display = quantity_column("quantity")
    date_hierarchy = "occurred_at"
    actions = ["reverse_movements"]
    ordering = ["-id"]
    show_full_result_count = False

    @admin.display(description="reference")
    def reference(self, obj: Movement) -> str:
        return " ".join(p for p in (obj.reference_type, obj.reference_id, obj.reference_line) if p)

    @admin.display(description="reversed")
    def reversal_state(self, obj: Movement) -> str:
        if obj.reverses_id:
            return f"reverses #{obj.reverses_id}"
        reversal = getattr(obj, "reversed_by", None)
        return f"by #{reversal.pk}" if reversal else ""

    def get_urls(self):  # noqa: ANN201 - Django signature
        extra = [
            path("stock-card/", self.admin_site.admin_view(self.stock_card_view), name="stock_card"),
            path(
                "<int:pk>/reverse/",
                self.admin_site.admin_view(self.reverse_view),
                name="stock_movement_reverse",
            ),
        ]
        return extra + super().get_urls()

    def has_reverse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("stock.add_movement")

    @admin.action(description="Reverse selected movements…", permissions=["reverse"])
    def reverse_movements(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True)[:50])
        if len(ids) == 1:
            return HttpResponseRedirect(reverse("admin:stock_movement_reverse", args=[ids[0]]))
        return self._reverse_page(request, ids)

    def reverse_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        get_object_or_404(self.get_queryset(request), pk=pk)
        return self._reverse_page(request, [pk])

    def _reverse_page(self, request: HttpRequest, ids: list[int]) -> HttpResponse:
        """Confirmation page: shows the movements, asks for the reason, then reverses each one
        through the service (each in its own transaction; a refusal is reported, not hidden)."""
        if not self.has_reverse_permission(request):
            raise PermissionDenied
        movements = list(
            self.get_queryset(request).filter(pk__in=ids).select_related("item", "lot", "source", "destination")
        )
        form = ReverseForm(request.POST if request.POST.get("confirm") else None)
        if form.is_bound and form.is_valid():
            done = 0
            for movement in movements:
                try:
                    reversal = movement_reverse(
                        movement=movement, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                except StockError as exc:
                    self.message_user(request, f"Movement #{movement.pk} was not reversed: {exc}", messages.ERROR)
                else:
                    done += 1
                    self.message_user(request, f"Movement #{movement.pk} reversed by #{reversal.pk}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:stock_movement_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Reverse movements",
            "opts": self.model._meta,
            "movements": movements,
            "form": form,
            "ids": ids,
        }
        return TemplateResponse(request, "admin/stock/movement/reverse_confirmation.html", context)

    def stock_card_view(self, request: HttpRequest) -> HttpResponse:
        """The stock card of one item: its movements in order with running quantity and value."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = StockCardForm(request.GET or None, user=request.user)
        card = None
        item = None
        if form.is_bound and form.is_valid():
            item = Item.objects.by_sku(form.cleaned_data["item"]).first()
            if item is None:
                form.add_error("item", f"No item with SKU {form.cleaned_data['item']!r}.")
            else:
                start, end = form.cleaned_data["start"], form.cleaned_data["end"]
                opening_qty, opening_value, rows = stock_card(
                    item=item,
                    warehouse=form.cleaned_data["warehouse"],
                    start=_day_start(start),
                    end=_day_end(end),
                )
                card = {"opening_quantity": opening_qty, "opening_value": opening_value, "rows": rows}
        context = {
            **self.admin_site.each_context(request),
            "title": f"Stock card: {item}" if item else "Stock card",
            "opts": self.model._meta,
            "form": form,
            "item": item,
            "card": card,
        }
        return TemplateResponse(request, "admin/stock/movement/stock_card.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "stock_card_url": reverse("admin:stock_card")}
        return super().changelist_view(request, extra_context)


def _day_start(day: date | None) -> datetime | None:
    return timezone.make_aware(datetime.combine(day, time.min)) if day else None


def _day_end(day: date | None) -> datetime | None:
    return timezone.make_aware(datetime.combine(day, time.max)) if day else None


@admin.register(StockLevel)
class StockLevelAdmin(WarehouseScopedAdminMixin, InventoryImportExportMixin, ReadOnlyAdmin):
    """Import posts opening balances as receipts (``stock.resources``, through the posting
    service, as the importing user); export writes the listed on-hand stock in those columns."""

    resource_classes = [OpeningBalanceResource]
    import_permissions = ("stock.add_movement",)
    skip_admin_log = True
    warehouse_lookups = ("location__warehouse",)
    list_display = ["item", "location", "lot", "on_hand_display", "reserved_display", "available_display", "card"]
    list_filter = [PermittedWarehouseFilter, "location__kind", ("item__category", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["item__sku", "item__name", "location__code", "location__barcode", "lot__code"]
    list_select_related = ["item__base_unit", "location__warehouse", "lot"]
    show_full_result_count = False
    quantity_fields = ("on_hand", "reserved")
    on_hand_display = quantity_column("on_hand", "on hand")
    reserved_display = quantity_column("reserved")
    available_display = quantity_column("available")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).exclude(on_hand=0, reserved=0)

    @admin.display(description="stock card")
    def card(self, obj: StockLevel) -> str:
        url = reverse("admin:stock_card") + f"?item={obj.item.sku}"
        if obj.location.warehouse_id:
            url += f"&warehouse={obj.location.warehouse_id}"
        return format_html('<a href="{}">card</a>', url)


@admin.register(Lot)
class LotAdmin(SimpleHistoryAdmin):
    list_display = ["code", "item", "expiry_date", "received_on", "created_at"]
    list_filter = ["expiry_date", "received_on"]
    search_fields = ["code", "item__sku", "item__name"]
    autocomplete_fields = ["item"]
    list_select_related = ["item"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lot]:
        """Scoped like stock (``lots_visible``): list, change page, history, autocompletes."""
        return lots_visible(super().get_queryset(request), request.user)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: object, object_id: str) -> None:
        raise Http404(f"No lot with id {object_id!r} here.")

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None):  # noqa: ANN201
        """simple-history finds records by id without the admin's queryset: scope them too."""
        if not self.get_queryset(request).filter(pk=unquote(object_id)).exists():
            raise Http404(f"No lot with id {object_id!r} here.")
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str, extra_context=None):  # noqa: ANN001, ANN201
        if not self.get_queryset(request).filter(pk=unquote(object_id)).exists():
            raise Http404(f"No lot with id {object_id!r} here.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj: Lot | None = None) -> list[str]:
        # A lot's identity is fixed once it exists; its expiry may be corrected.
        return ["item", "code"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Lot | None = None) -> bool:
        return False


class ReservationLineInline(admin.TabularInline):
    model = ReservationLine
    extra = 0
    can_delete = False
    fields = readonly_fields = ["location", "lot", "quantity_display"]
    quantity_display = quantity_column("quantity", unit="reservation.item.base_unit")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Reservation)
class ReservationAdmin(WarehouseScopedAdminMixin, ReadOnlyAdmin):
    warehouse_lookups = ("warehouse",)
    list_display = [
        "id",
        "item",
        "warehouse",
        "quantity_display",
        "consumed_display",
        "released_display",
        "status",
        "reference_id",
        "created_at",
    ]
    list_filter = ["status", PermittedWarehouseFilter, "created_at"]
    search_fields = ["item__sku", "reference_id", "idempotency_key"]
    list_select_related = ["item__base_unit", "warehouse"]
    inlines = [ReservationLineInline]
    quantity_fields = ("quantity", "consumed", "released")
    quantity_display = quantity_column("quantity")
    consumed_display = quantity_column("consumed")
    released_display = quantity_column("released")


@admin.register(ItemValuation)
class ItemValuationAdmin(WarehouseScopedAdminMixin, ReadOnlyAdmin):
    warehouse_lookups = ("warehouse",)
    list_display = ["item", "warehouse", "quantity_display", "value", "average_cost", "last_unit_cost"]
    list_filter = [PermittedWarehouseFilter, "item__valuation_method"]
    search_fields = ["item__sku", "item__name"]
    list_select_related = ["item__base_unit", "warehouse"]
    quantity_fields = ("quantity",)
    quantity_display = quantity_column("quantity")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """The list with the total value of the rows it lists (all pages, after the filters)."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            total = changelist.queryset.aggregate(total=Sum("value"))["total"]
            response.context_data["valuation_total"] = money_text(total or 0)
        return response


@admin.register(CostLayer)
class CostLayerAdmin(WarehouseScopedAdminMixin, ReadOnlyAdmin):
    warehouse_lookups = ("warehouse",)
    list_display = [
        "id",
        "item",
        "warehouse",
        "received_at",
        "unit_cost",
        "quantity_display",
        "remaining_quantity_display",
        "remaining_value",
        "movement_id",
    ]
    list_filter = [PermittedWarehouseFilter, "received_at"]
    search_fields = ["item__sku"]
    list_select_related = ["item__base_unit", "warehouse"]
    quantity_fields = ("quantity", "remaining_quantity")
    quantity_display = quantity_column("quantity")
    remaining_quantity_display = quantity_column("remaining_quantity", "remaining quantity")


# --- Adjustments waiting for approval (from the clerk pages) and barcode labels ------------------


@admin.register(ShortPick)
class ShortPickAdmin(WarehouseScopedAdminMixin, ReadOnlyAdmin):
    """Picks refused at a bin for lack of stock (floor Pick job, API issues and sales naming the
    bin), read-only: ``stock.services.short_pick_record`` writes them, the count plan reads them."""

    warehouse_lookups = ("warehouse",)
    list_display = ["at", "warehouse", "location", "item", "lot", "asked_display", "available_display", "by", "source"]
    list_filter = [PermittedWarehouseFilter, "source", "at"]
    search_fields = ["item__sku", "item__name", "location__code", "lot__code"]
    list_select_related = ["item__base_unit", "location__warehouse", "lot", "warehouse", "by"]
    quantity_fields = ("asked", "available")
    asked_display = quantity_column("asked")
    available_display = quantity_column("available")
    ordering = ["-at"]


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(WarehouseScopedAdminMixin, ReadOnlyAdmin):
    """Scrap and adjustments asked for on the floor that wait for a manager. "Approve" posts each
    selected request through ``stock.services.adjustment_request_approve`` (the approver needs
    the warehouse's approve permission and must not be the one who asked); "Reject" posts nothing."""

    warehouse_lookups = ("warehouse",)
    list_display = [
        "id",
        "status",
        "requested_at",
        "warehouse",
        "location",
        "item",
        "lot",
        "kind",
        "quantity_display",
        "value",
        "reason_code",
        "approval_reason",
        "requested_by",
        "decided_by",
        "movement_link",
    ]
    list_filter = ["status", PermittedWarehouseFilter, "kind", "reason_code", "requested_at"]
    search_fields = ["item__sku", "item__name", "location__code", "lot__code", "reason_code", "=id"]
    list_select_related = [
        "item__base_unit",
        "location__warehouse",
        "lot",
        "warehouse",
        "requested_by",
        "decided_by",
        "movement",
    ]
    actions = ["approve_requests", "reject_requests"]
    quantity_fields = ("quantity",)
    quantity_display = quantity_column("quantity")
    ordering = ["-id"]

    @admin.display(description="movement")
    def movement_link(self, obj: AdjustmentRequest) -> str:
        if obj.movement_id is None:
            return ""
        url = reverse("admin:stock_movement_change", args=[obj.movement_id])
        return format_html('<a href="{}">#{}</a>', url, obj.movement_id)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("stock.add_movement") and (
            warehouse_allows(request.user, None, WarehouseAction.APPROVE)
            or warehouses_for(request.user, WarehouseAction.APPROVE).exists()
        )

    @admin.action(description="Approve and post selected requests", permissions=["approve"])
    def approve_requests(self, request: HttpRequest, queryset: QuerySet) -> None:
        for pending in queryset.order_by("pk"):
            try:
                adjustment_request_approve(request=pending, actor=request.user)
            except (StockError, PermissionDenied) as exc:
                self.message_user(request, f"Request #{pending.pk} was not posted: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Request #{pending.pk} approved and posted.", messages.SUCCESS)

    @admin.action(description="Reject selected requests… (asks why; nothing is posted)", permissions=["approve"])
    def reject_requests(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Confirmation page asking for the reason (told to the asker), then rejects each
        pending request through the service; a refusal is reported, not hidden."""
        pending = list(queryset.order_by("pk").select_related("item", "location__warehouse", "lot")[:50])
        form = RejectForm(request.POST if request.POST.get("confirm") else None)
        if form.is_bound and form.is_valid():
            for each in pending:
                try:
                    adjustment_request_reject(request=each, actor=request.user, note=form.cleaned_data["reason"])
                except (StockError, PermissionDenied) as exc:
                    self.message_user(request, f"Request #{each.pk} was not rejected: {exc}", messages.ERROR)
                else:
                    self.message_user(request, f"Request #{each.pk} rejected.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject adjustment requests",
            "opts": self.model._meta,
            "pending": pending,
            "form": form,
        }
        return TemplateResponse(request, "admin/stock/adjustmentrequest/reject_confirmation.html", context)


def _labels_redirect(param: str, queryset: QuerySet, request: HttpRequest) -> HttpResponseRedirect:
    ids = "&".join(f"{param}={pk}" for pk in queryset.values_list("pk", flat=True)[:500])
    back = request.get_full_path()
    return HttpResponseRedirect(f"{reverse('floor:labels')}?{ids}&back={quote(back)}")


@admin.action(description="Print barcode labels (Code 128)")
def print_location_labels(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    return _labels_redirect("location", queryset, request)


@admin.action(description="Print barcode labels (Code 128)")
def print_item_labels(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
    return _labels_redirect("item", queryset, request)


def _add_admin_action(model: type, action) -> None:  # noqa: ANN001
    """Offer ``action`` on the catalog's admin of ``model`` (catalog may not import stock, so the
    label actions are attached from here, after the catalog admin registered its models)."""
    model_admin = admin.site.get_model_admin(model) if admin.site.is_registered(model) else None
    if model_admin is not None and action not in (model_admin.actions or ()):
        model_admin.actions = [*(model_admin.actions or ()), action]


_add_admin_action(Location, print_location_labels)
_add_admin_action(Item, print_item_labels)

from . import admin_panels  # noqa: E402, F401 - the item page's stock, reconciliation runs

"""The managers' pages of counting (docs/counting.md): counts and their lines (read-only; every
change goes through ``counting.services``), "Start a count…" of chosen bins, items or a category,
approve or reject waiting lines with a reason code, class policies and the items' ABC classes
(with the manager's override). Lists are scoped to the warehouses the user may see; the services
check the approve permission again."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count as Counted
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from catalog.models import Category, Warehouse
from catalog.permissions import (
    PermittedWarehouseFilter,
    WarehouseAction,
    WarehouseScopedAdminMixin,
    warehouses_for,
)
from catalog.selectors import item_by_code, location_by_code
from common.errors import DomainError
from stock.admin import ReadOnlyAdmin

from .models import ClassPolicy, Count, CountLine, ItemClass, LineStatus, ReasonCode
from .services import abc_classify, count_line_approve, count_line_reject, count_start, item_class_override


class StartCountForm(forms.Form):
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none())
    locations = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Bin codes or barcodes, one per line."
    )
    items = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="SKUs or barcodes, one per line."
    )
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False)
    blind = forms.BooleanField(required=False, initial=True, help_text="Clerks do not see the book quantity.")

    def __init__(self, *args, user, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["warehouse"].queryset = warehouses_for(user, WarehouseAction.APPROVE)

    def clean(self) -> dict:
        data = super().clean()
        warehouse = data.get("warehouse")
        if warehouse is None:
            return data
        data["bins"], data["skus"] = [], []
        for code in (data.get("locations") or "").split():
            location = location_by_code(code, warehouse)
            if location is None or location.warehouse_id != warehouse.pk:
                self.add_error("locations", f"{warehouse.code} has no bin {code!r}.")
            else:
                data["bins"].append(location)
        for code in (data.get("items") or "").split():
            item = item_by_code(code)
            if item is None:
                self.add_error("items", f"No item has the SKU or barcode {code!r}.")
            else:
                data["skus"].append(item)
        return data


class CountLineInline(admin.TabularInline):
    model = CountLine
    fk_name = "count"
    extra = 0
    can_delete = False
    fields = ["location", "item", "lot", "expected", "status", "counted_quantity", "counted_by", "counted_at"]
    fields += ["book_quantity", "variance", "variance_value", "reason_code", "movement"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Count)
class CountAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin, ReadOnlyAdmin):
    """Counts (read-only) and "Start a count…" (``count_start``)."""

    warehouse_lookups = ("warehouse",)
    list_display = ["id", "warehouse", "kind", "status", "planned_for", "zone", "line_count", "created_by"]
    list_display += ["submitted_by", "submitted_at"]
    list_filter = ["status", "kind", PermittedWarehouseFilter, "planned_for"]
    list_select_related = ["warehouse", "zone", "created_by", "submitted_by"]
    inlines = [CountLineInline]
    exclude = ["locations"]
    change_list_template = "admin/counting/count/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Count]:
        return super().get_queryset(request).annotate(line_count=Counted("lines"))

    @admin.display(description="lines", ordering="line_count")
    def line_count(self, obj: Count) -> int:
        return obj.line_count

    def get_urls(self) -> list:
        start = path("start/", self.admin_site.admin_view(self.start_view), name="counting_count_start")
        return [start, *super().get_urls()]

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("counting.add_count"):
            raise PermissionDenied
        form = StartCountForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                count = count_start(
                    warehouse=data["warehouse"],
                    locations=data["bins"],
                    items=data["skus"],
                    category=data["category"],
                    blind=data["blind"],
                    actor=request.user,
                )
            except (DomainError, PermissionDenied) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Count #{count.pk} started with {count.lines.count()} line(s).")
                return HttpResponseRedirect(reverse("admin:counting_count_change", args=[count.pk]))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Start a count", "opts": self.opts}
        return TemplateResponse(request, "admin/counting/count/start.html", context)


class DecisionForm(forms.Form):
    reason = forms.ChoiceField(choices=ReasonCode.choices)
    note = forms.CharField(max_length=500, required=False)
    recount = forms.BooleanField(required=False, help_text="Reject only: order another recount.")


@admin.register(CountLine)
class CountLineAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin, ReadOnlyAdmin):
    """Count lines; "Approve…" and "Reject…" ask for the reason code and call the services."""

    warehouse_lookups = ("count__warehouse",)
    list_display = ["id", "count_link", "status", "location", "item", "lot", "counted_quantity", "book_quantity"]
    list_display += ["variance", "variance_value", "abc_class", "counted_by", "counted_at", "reason_code"]
    list_filter = ["status", "abc_class", "reason_code", PermittedWarehouseFilter, "counted_at"]
    list_select_related = ["count", "location", "item", "lot", "counted_by"]
    search_fields = ["item__sku", "location__code", "lot__code", "=id", "=count__id"]
    actions = ["approve_lines", "reject_lines"]

    @admin.display(description="count")
    def count_link(self, obj: CountLine) -> str:
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:counting_count_change", args=[obj.count_id]), obj.count_id
        )

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("counting.change_countline") and (
            warehouses_for(request.user, WarehouseAction.APPROVE).exists()
        )

    def _decide(self, request: HttpRequest, queryset: QuerySet, verb: str) -> HttpResponse | None:
        form = DecisionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "form": form,
                "lines": queryset,
                "verb": verb,
                "action": request.POST.get("action"),
                "title": f"{verb} count lines",
                "opts": self.opts,
            }
            return TemplateResponse(request, "admin/counting/countline/decide.html", context)
        data = form.cleaned_data
        for line in queryset.order_by("pk"):
            try:
                if verb == "Approve":
                    count_line_approve(line=line, actor=request.user, reason=data["reason"], note=data["note"])
                else:
                    count_line_reject(
                        line=line, actor=request.user, reason=data["reason"], note=data["note"], recount=data["recount"]
                    )
            except (DomainError, PermissionDenied) as exc:
                self.message_user(request, f"Line #{line.pk} was not changed: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Line #{line.pk}: {verb.lower()}d ({data['reason']}).", messages.SUCCESS)
        return None

    @admin.action(description="Approve and post selected lines…", permissions=["approve"])
    def approve_lines(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._decide(request, queryset.filter(status=LineStatus.WAITING), "Approve")

    @admin.action(description="Reject selected lines (nothing is posted)…", permissions=["approve"])
    def reject_lines(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._decide(request, queryset, "Reject")


@admin.register(ClassPolicy)
class ClassPolicyAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    """Share of value, counts a year and tolerance per class and warehouse (edited in the list)."""

    warehouse_lookups = ("warehouse",)
    list_display = ["warehouse", "abc_class", "value_share", "counts_per_year", "tolerance_percent"]
    list_display += ["tolerance_value"]
    list_editable = ["value_share", "counts_per_year", "tolerance_percent", "tolerance_value"]
    list_filter = [PermittedWarehouseFilter]
    actions = ["classify_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the three rows of a warehouse are made with their defaults when needed

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Class the items of these warehouses now (ABC)")
    def classify_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        for warehouse in Warehouse.objects.filter(pk__in=queryset.values("warehouse")):
            try:
                rows = abc_classify(warehouse=warehouse, actor=request.user)
            except (DomainError, PermissionDenied) as exc:
                self.message_user(request, f"{warehouse.code}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{warehouse.code}: {rows} item(s) classed.")


class ItemClassForm(forms.ModelForm):
    class Meta:
        model = ItemClass
        fields = ["override_class"]


@admin.register(ItemClass)
class ItemClassAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
    """The items' ABC classes; only the manager's override is edited (``item_class_override``)."""

    warehouse_lookups = ("warehouse",)
    form = ItemClassForm
    list_display = ["item", "warehouse", "computed_class", "override_class", "consumption_value", "computed_at"]
    list_filter = ["computed_class", "override_class", PermittedWarehouseFilter]
    list_select_related = ["item", "warehouse"]
    search_fields = ["item__sku", "item__name"]
    readonly_fields = ["item", "warehouse", "computed_class", "consumption_value", "computed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ItemClass, form: forms.Form, change: bool) -> None:
        item_class_override(warehouse=obj.warehouse, item=obj.item, abc_class=obj.override_class, actor=request.user)

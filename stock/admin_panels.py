"""Admin additions of the ledger beside its model admins (stock/admin.py imports this last):

- the stored reconciliation runs (read-only: when, how long, the checks, every difference);
- the item page of the catalog shows its stock on hand per warehouse (the warehouses where the
  user may view stock) and links to its stock card: catalog may not import stock, so the
  catalog's ``ItemAdmin`` gets the panel from here (template ``admin/catalog/item/change_form.html``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import F, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from catalog.models import Item, LocationKind
from catalog.permissions import warehouses_for
from catalog.units import format_quantity
from common.numbers import money_text

from .admin import ReadOnlyAdmin
from .models import ItemValuation, ReconciliationRun, StockLevel


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "trigger", "duration_ms", "difference_count", "balanced"]
    list_filter = ["trigger"]
    date_hierarchy = "started_at"
    fields = ["started_at", "trigger", "duration_ms", "checks_display", "difference_count", "differences_display"]
    readonly_fields = fields

    @admin.display(boolean=True, description="books balance")
    def balanced(self, obj: ReconciliationRun) -> bool:
        return obj.balanced

    @admin.display(description="checks")
    def checks_display(self, obj: ReconciliationRun) -> str:
        return ", ".join(obj.checks)

    @admin.display(description="differences")
    def differences_display(self, obj: ReconciliationRun) -> str:
        if not obj.differences:
            return "None: the books balance."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((d["check"], d["item"], d["location"], d["lot"], d["expected"], d["found"]) for d in obj.differences),
        )
        head = "<tr><th>check</th><th>item</th><th>location</th><th>lot</th><th>expected</th><th>found</th></tr>"
        return format_html("<table>{}{}</table>", mark_safe(head), rows)  # noqa: S308 - a constant


def item_stock_panel(user, item: Item) -> dict:  # noqa: ANN001 - a user
    """On hand, reserved and value of ``item`` per warehouse the user may view stock in."""
    permitted = warehouses_for(user)
    levels = (
        StockLevel.objects.filter(item=item, location__kind=LocationKind.INTERNAL, location__warehouse__in=permitted)
        .values(code=F("location__warehouse__code"), warehouse_id=F("location__warehouse_id"))
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
        .order_by("code")
    )
    values = dict(ItemValuation.objects.filter(item=item, warehouse__in=permitted).values_list("warehouse_id", "value"))
    rows = [
        {
            "warehouse": level["code"],
            "on_hand": format_quantity(level["on_hand"], item.base_unit),
            "reserved": format_quantity(level["reserved"], item.base_unit),
            "value": money_text(values.get(level["warehouse_id"], 0)),
            "card_url": _card_url(item, level["warehouse_id"]),
        }
        for level in levels
    ]
    return {"rows": rows, "card_url": _card_url(item)}


def _card_url(item: Item, warehouse_id: int | None = None) -> str:
    query = {"item": item.sku, **({"warehouse": warehouse_id} if warehouse_id else {})}
    return f"{reverse('admin:stock_card')}?{urlencode(query)}"


def _with_stock_panel(model_admin: admin.ModelAdmin) -> None:
    original = model_admin.change_view

    def change_view(request: HttpRequest, object_id: str, form_url: str = "", extra_context=None) -> HttpResponse:  # noqa: ANN001
        item = model_admin.get_object(request, object_id)
        extra = dict(extra_context or {})
        if item is not None:
            extra["stock_panel"] = item_stock_panel(request.user, item)
        return original(request, object_id, form_url, extra)

    model_admin.change_view = change_view


if admin.site.is_registered(Item):
    _with_stock_panel(admin.site.get_model_admin(Item))

"""The ledger's kinds of alert (``common.alerts``): lots expiring, items out of stock,
adjustment requests waiting for approval, and reconciliation differences."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db.models import F, Sum
from django.utils import timezone

from catalog.models import LocationKind, UnitOfMeasure
from catalog.permissions import WarehouseAction, warehouses_for
from catalog.units import format_quantity
from common.alerts import Alert, AlertKind, Found
from common.roles import ADMINISTRATOR, INVENTORY_MANAGER, mail_recipients

from .models import AdjustmentRequest, AdjustmentRequestStatus, StockLevel
from .reconciliation import Difference
from .selectors import lots_expiring


def on_hand(lot: dict) -> str:
    """A lot's stock with its unit's places and code ("4 each", "1.250 kg")."""
    return format_quantity(lot["on_hand"], UnitOfMeasure(code=lot["unit_code"], decimal_places=lot["unit_places"]))


def expiry_found() -> Found:
    """Per active Administrator and Inventory manager with an address: the lots with stock in
    the warehouses they may view that expire within ``STOCK_EXPIRY_ALERT_DAYS`` (expired ones
    first, urgent). A lot that passes its date is a new condition (its key ends in ``expired``
    instead of ``expiring``), so its managers hear of it once more."""
    days, today = settings.STOCK_EXPIRY_ALERT_DAYS, timezone.localdate()
    found = {}
    for user in mail_recipients(ADMINISTRATOR, INVENTORY_MANAGER):
        alerts = []
        for warehouse in warehouses_for(user).order_by("code"):
            for lot in lots_expiring(within_days=days, warehouse=warehouse, today=today):
                left = (lot["expiry_date"] - today).days  # from the date: an item's name may say "EXPIRED"
                when = "EXPIRED" if left < 0 else ("expires today" if left == 0 else f"expires in {left} day(s)")
                alerts.append(
                    Alert(
                        key=f"{warehouse.code}:{lot['sku']}:{lot['lot_code']}:{'expired' if left < 0 else 'expiring'}",
                        text=(
                            f"{warehouse.code}: {lot['sku']} {lot['name']}, lot {lot['lot_code']}, "
                            f"{on_hand(lot)} on hand, {when} ({lot['expiry_date'].isoformat()})"
                        ),
                        urgent=left < 0,
                    )
                )
        found[user] = alerts
    return found


EXPIRY = AlertKind(
    kind="expiry",
    title="Expiring stock",
    intro=(
        "Lots with stock that expire soon. Pick them first (the floor's Pick job proposes them by first "
        "expiry), or scrap what has expired."
    ),
    subject="Expiring stock: {count} lot(s) within {settings.STOCK_EXPIRY_ALERT_DAYS} days ({urgent} expired)",
    collect=expiry_found,
)


def out_of_stock(warehouse) -> list[dict]:  # noqa: ANN001 - a catalog.Warehouse
    """Items once stocked in ``warehouse`` (a level exists in one of its internal locations)
    whose available quantity there (on hand minus reserved, over all its locations and lots) is
    zero or less, by SKU."""
    return list(
        StockLevel.objects.filter(location__kind=LocationKind.INTERNAL, location__warehouse=warehouse)
        .values("item__sku", "item__name", "item__base_unit__code", "item__base_unit__decimal_places")
        .annotate(available=Sum(F("on_hand") - F("reserved")))
        .filter(available__lte=0)
        .order_by("item__sku")
    )


def low_stock_found() -> Found:
    """Per active Administrator and Inventory manager with an address: the items out of stock
    (``out_of_stock``) in the warehouses they may view; the condition clears when stock arrives."""
    found = {}
    for user in mail_recipients(ADMINISTRATOR, INVENTORY_MANAGER):
        alerts = []
        for warehouse in warehouses_for(user).order_by("code"):
            for row in out_of_stock(warehouse):
                unit = UnitOfMeasure(
                    code=row["item__base_unit__code"], decimal_places=row["item__base_unit__decimal_places"]
                )
                alerts.append(
                    Alert(
                        key=f"{warehouse.code}:{row['item__sku']}",
                        text=(
                            f"{warehouse.code}: {row['item__sku']} {row['item__name']}, "
                            f"{format_quantity(row['available'], unit)} available"
                        ),
                        urgent=row["available"] < 0,
                    )
                )
        found[user] = alerts
    return found


LOW_STOCK = AlertKind(
    kind="low_stock",
    title="Out of stock",
    intro=(
        "Items with nothing available in a warehouse that stocked them (on hand minus reserved, zero "
        "or below; below zero only where the warehouse allows negative stock). Receive or move stock in, "
        "or set a reorder policy so purchasing is told before this happens."
    ),
    subject="Out of stock: {count} item(s) ({urgent} below zero)",
    collect=low_stock_found,
)


def approvals_found() -> Found:
    """Per active Administrator and Inventory manager with an address: the scrap and adjustment
    requests waiting for approval in the warehouses where they may approve, except their own
    (nobody approves what they asked). The condition clears when the request is decided."""
    found = {}
    for user in mail_recipients(ADMINISTRATOR, INVENTORY_MANAGER):
        waiting = (
            AdjustmentRequest.objects.filter(
                status=AdjustmentRequestStatus.PENDING, warehouse__in=warehouses_for(user, WarehouseAction.APPROVE)
            )
            .exclude(requested_by=user)
            .select_related("warehouse", "item__base_unit", "location", "lot", "requested_by")
            .order_by("requested_at", "pk")
        )
        found[user] = [
            Alert(
                key=f"adjustment-request:{request.pk}",
                text=(
                    f"{request.warehouse.code} {request.location.code} {request.item.sku}"
                    f"{f' lot {request.lot.code}' if request.lot else ''}: {request.get_kind_display().lower()} "
                    f"of {format_quantity(request.quantity, request.item.base_unit)} ({request.reason_code}), "
                    f"request #{request.pk} by {request.requested_by}: {request.approval_reason}"
                ),
            )
            for request in waiting
        ]
    return found


APPROVALS = AlertKind(
    kind="approvals",
    title="Adjustments waiting for approval",
    intro=(
        "Scrap and adjustment requests above the approval limits wait for a manager. Approve or reject "
        "each in the admin (Stock > Adjustment requests); nothing moves until then."
    ),
    subject="Approvals: {count} adjustment request(s) waiting",
    collect=approvals_found,
)


def reconciliation_found(differences: Sequence[Difference]) -> Found:
    """Every difference for every active Administrator and Inventory manager with an address."""
    alerts = [Alert(key=f"{d.check}:{d.item}:{d.location}:{d.lot}", text=str(d), urgent=True) for d in differences]
    return dict.fromkeys(mail_recipients(ADMINISTRATOR, INVENTORY_MANAGER), alerts)


RECONCILIATION = AlertKind(
    kind="reconciliation",
    title="Stock reconciliation",
    intro=(
        "The nightly reconciliation found differences between the ledger and the stock levels or "
        "valuation. Nothing was changed. Run `python manage.py reconcile` to see them again."
    ),
    subject="Stock reconciliation: {count} difference(s)",
)

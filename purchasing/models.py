"""Purchasing: suppliers and what they sell at what price and lead time, reorder policies per
item and warehouse, and purchase orders whose receipts post through the ledger.

Invariants kept by the database:
- a supplier code is unique ignoring case; an item has at most one preferred supplier;
- a supplier sells an item on one ``SupplierItem`` row; a reorder policy is unique per
  (item, warehouse), with ``0 <= safety_stock <= reorder_point < order_up_to``;
- a purchase order line's ``received_quantity >= 0`` (above ``quantity`` only within the
  over-receipt tolerance, checked by the service) and an item appears once per order.

Quantities are in the item's base unit. Only ``purchasing.services`` changes purchase orders;
receipts change stock through ``stock.services.purchase_receipts_post`` (the one write path).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from catalog.models import MONEY, QTY, Category, Item, Warehouse

ZERO = Decimal(0)


class Supplier(models.Model):
    """A company we buy from. ``lead_time_days`` applies to its items that give none."""

    code = models.CharField(max_length=20, help_text="Short code, unique ignoring case (e.g. ACME).")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, help_text="Where purchase orders go.")
    phone = models.CharField(max_length=50, blank=True)
    lead_time_days = models.PositiveIntegerField(default=7, help_text="Days from order to arrival.")
    active = models.BooleanField(default=True, help_text="Inactive suppliers get no new orders.")
    ordering_cost = models.DecimalField(
        **MONEY,
        default=Decimal(25),
        validators=[MinValueValidator(0)],
        help_text="What placing one order with this supplier costs us (the S of the EOQ, docs/replenishment.md).",
    )
    over_receipt_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(0)],
        help_text="How much more than ordered may be received, in % of the line (0: not one unit more).",
    )
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="supplier_code_unique_ci"),
            models.CheckConstraint(condition=~Q(code=""), name="supplier_code_not_empty"),
            models.CheckConstraint(condition=Q(ordering_cost__gte=0), name="supplier_ordering_cost_non_negative"),
            models.CheckConstraint(condition=Q(over_receipt_percent__gte=0), name="supplier_over_receipt_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class SupplierItem(models.Model):
    """What one supplier asks for one item: the price per base unit, the lead time (empty:
    the supplier's), the smallest order and the multiple orders come in (a case of 12)."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="supplier_items")
    supplier_sku = models.CharField("supplier's SKU", max_length=64, blank=True)
    unit_cost = models.DecimalField(**MONEY, validators=[MinValueValidator(0)], help_text="Per base unit.")
    lead_time_days = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the supplier's.")
    min_order_quantity = models.DecimalField(**QTY, default=ZERO, validators=[MinValueValidator(0)])
    order_multiple = models.DecimalField(
        **QTY, null=True, blank=True, help_text="Orders are a multiple of this (base units); empty: any."
    )
    preferred = models.BooleanField(default=False, help_text="Suggested orders go to the preferred supplier.")
    over_receipt_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Over-receipt tolerance for this item, in %; empty: the supplier's.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["item__sku", "supplier__code"]
        constraints = [
            models.UniqueConstraint(fields=["supplier", "item"], name="supplier_item_unique"),
            models.UniqueConstraint(fields=["item"], condition=Q(preferred=True), name="supplier_item_one_preferred"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="supplier_item_cost_non_negative"),
            models.CheckConstraint(condition=Q(min_order_quantity__gte=0), name="supplier_item_moq_non_negative"),
            models.CheckConstraint(
                condition=Q(order_multiple__isnull=True) | Q(order_multiple__gt=0),
                name="supplier_item_multiple_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item.sku} from {self.supplier.code}"

    @property
    def effective_lead_time_days(self) -> int:
        return self.supplier.lead_time_days if self.lead_time_days is None else self.lead_time_days


class PolicyMode(models.TextChoices):
    MANUAL = "manual", "Manual (typed in)"
    COMPUTED = "computed", "Computed from the forecast"


class ReorderPolicy(models.Model):
    """When to reorder an item for a warehouse: when available plus on-order stock falls to
    ``reorder_point`` or below, order up to ``order_up_to`` (empty: back to the reorder point
    plus the smallest order). ``safety_stock`` is the part of the reorder point kept for
    surprises: stock below it is reported as urgent.

    ``mode`` manual: the three figures are typed in. Computed: ``purchasing.replenishment``
    writes them (and ``order_quantity``, ``explanation``, ``computed_at``) from the demand
    forecast, the lead time and ``service_level`` (docs/replenishment.md); a person's edit of a
    computed policy is overwritten by the next computation."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reorder_policies")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="reorder_policies")
    mode = models.CharField(max_length=10, choices=PolicyMode.choices, default=PolicyMode.MANUAL)
    reorder_point = models.DecimalField(**QTY, validators=[MinValueValidator(0)])
    safety_stock = models.DecimalField(**QTY, default=ZERO, validators=[MinValueValidator(0)])
    order_up_to = models.DecimalField(**QTY, null=True, blank=True, help_text="Empty: reorder point.")
    service_level = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.95"),
        help_text="Computed mode: the share of replenishment cycles without a stock-out (0.5 to 0.9999).",
    )
    order_quantity = models.DecimalField(
        **QTY, null=True, blank=True, editable=False, help_text="Computed: the EOQ rounded to the offer."
    )
    computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    explanation = models.JSONField(default=dict, blank=True, editable=False, help_text="Why each figure (computed).")
    history = HistoricalRecords(excluded_fields=["explanation", "computed_at"])

    class Meta:
        verbose_name_plural = "reorder policies"
        ordering = ["item__sku", "warehouse__code"]
        constraints = [
            models.UniqueConstraint(fields=["item", "warehouse"], name="reorder_policy_unique"),
            models.CheckConstraint(
                condition=Q(safety_stock__gte=0) & Q(safety_stock__lte=F("reorder_point")),
                name="reorder_policy_safety_within_point",
            ),
            models.CheckConstraint(
                condition=Q(order_up_to__isnull=True) | Q(order_up_to__gt=F("reorder_point")),
                name="reorder_policy_up_to_above_point",
            ),
            models.CheckConstraint(
                condition=Q(service_level__gte=Decimal("0.5")) & Q(service_level__lte=Decimal("0.9999")),
                name="reorder_policy_service_level_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item.sku} at {self.warehouse.code}: reorder at {self.reorder_point.normalize():f}"


class PurchaseOrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ORDERED = "ordered", "Ordered"
    PARTIALLY_RECEIVED = "partial", "Partially received"
    RECEIVED = "received", "Received"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (PurchaseOrderStatus.ORDERED, PurchaseOrderStatus.PARTIALLY_RECEIVED)


class PurchaseOrder(models.Model):
    """An order to one supplier for one warehouse. Draft (lines may change) -> ordered ->
    partially received -> received; a draft or an order with nothing received can be cancelled.
    Its number is ``PO-<id>``."""

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="orders")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(max_length=10, choices=PurchaseOrderStatus.choices, default=PurchaseOrderStatus.DRAFT)
    expected_on = models.DateField(null=True, blank=True, help_text="Empty: today plus the lead time when ordered.")
    ordered_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "warehouse"], name="purchaseorder_open")]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"PO-{self.pk:06d}" if self.pk else "PO (new)"

    @property
    def total(self) -> Decimal:
        """What the order costs: the sum of quantity x unit cost over its lines (prefetch them)."""
        return sum((line.quantity * line.unit_cost for line in self.lines.all()), ZERO)


class PurchaseOrderLine(models.Model):
    """``quantity`` of ``item`` at ``unit_cost`` per base unit; ``received_quantity`` grows with
    each receipt (beyond ``quantity`` only within the supplier's over-receipt tolerance)."""

    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QTY)
    unit_cost = models.DecimalField(**MONEY, validators=[MinValueValidator(0)])
    received_quantity = models.DecimalField(**QTY, default=ZERO)
    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "item"], name="purchaseorderline_item_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="purchaseorderline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="purchaseorderline_cost_non_negative"),
            # Not capped at the quantity: a supplier's over-receipt tolerance lets more arrive
            # (purchasing.services.purchase_order_receive checks it under the order's lock).
            models.CheckConstraint(
                condition=Q(received_quantity__gte=0), name="purchaseorderline_received_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} x {self.item.sku}"

    @property
    def outstanding(self) -> Decimal:
        """What is still to come: never below zero (an over-receipt leaves nothing outstanding)."""
        return max(self.quantity - self.received_quantity, ZERO)


class PurchaseOrderSending(models.Model):
    """One attempt to mail the order to its supplier (``purchasing.documents.purchase_order_send``):
    to whom, when, by whom (empty: the system, when it was placed) and, if the mail server
    refused, why. Append-only: a re-send is a new row."""

    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="sendings")
    sent_to = models.EmailField()
    sent_at = models.DateTimeField()
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True, help_text="Empty: the mail server accepted it.")

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        outcome = "failed" if self.error else "sent"
        return f"{self.order} {outcome} to {self.sent_to} at {self.sent_at:%Y-%m-%d %H:%M}"


class CategoryHoldingCost(models.Model):
    """What keeping stock of a category's items costs a year, as a percentage of their value
    (the H of the EOQ is this share of the unit cost). Categories without a row:
    ``DEFAULT_HOLDING_PERCENT``. Kept in purchasing so the catalog knows nothing of it."""

    category = models.OneToOneField(Category, on_delete=models.CASCADE, related_name="holding_cost")
    annual_percent = models.DecimalField(max_digits=6, decimal_places=2, validators=[MinValueValidator(0)])
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(annual_percent__gte=0), name="holding_cost_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.annual_percent.normalize():f} % a year"


DEFAULT_HOLDING_PERCENT = Decimal(25)


class DemandDay(models.Model):
    """Sales issues of one item from one warehouse on one day (local time), rebuilt from the
    ledger by ``purchasing.replenishment.demand_history_refresh``. Only days with a sale or a
    stock-out have a row; a missing day in a series is zero demand with stock on hand.
    ``stockout``: the warehouse's on-hand of the item was zero or less at the end of the day,
    so the day's demand is a floor, not a measure: forecasts skip it."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    quantity = models.DecimalField(**QTY, default=ZERO)
    stockout = models.BooleanField(default=False)

    class Meta:
        ordering = ["item", "warehouse", "day"]
        constraints = [
            models.UniqueConstraint(fields=["item", "warehouse", "day"], name="demand_day_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="demand_day_quantity_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}@{self.warehouse_id} {self.day}: {self.quantity.normalize():f}"


class DemandForecast(models.Model):
    """The last fit of an item's daily demand in a warehouse (``purchasing.forecasting``):
    ``method``, the mean forecast per day over the next four weeks (``daily_demand``), the spread
    of daily demand around the fit (``daily_sd``), the error on the held-out weeks (``mase``:
    mean absolute error over that of the naive forecast; below 1 beats it) and the next days'
    forecasts (``daily``, decimal strings, for the chart)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=60)
    daily_demand = models.DecimalField(**QTY)
    daily_sd = models.DecimalField(**QTY)
    mase = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    history_days = models.PositiveIntegerField()
    daily = models.JSONField(default=list)
    fitted_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "warehouse"], name="demand_forecast_unique")]

    def __str__(self) -> str:
        return f"{self.item_id}@{self.warehouse_id}: {self.daily_demand.normalize():f}/day ({self.method})"

"""Purchasing: suppliers and what they sell at what price and lead time, reorder policies per
item and warehouse, and purchase orders whose receipts post through the ledger.

Invariants kept by the database:
- a supplier code is unique ignoring case; an item has at most one preferred supplier;
- a supplier sells an item on one ``SupplierItem`` row; a reorder policy is unique per
  (item, warehouse), with ``0 <= safety_stock <= reorder_point < order_up_to``;
- a purchase order line's ``0 <= received_quantity <= quantity`` and an item appears once per
  order.

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

from catalog.models import MONEY, QTY, Item, Warehouse

ZERO = Decimal(0)


class Supplier(models.Model):
    """A company we buy from. ``lead_time_days`` applies to its items that give none."""

    code = models.CharField(max_length=20, help_text="Short code, unique ignoring case (e.g. ACME).")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True, help_text="Where purchase orders go.")
    phone = models.CharField(max_length=50, blank=True)
    lead_time_days = models.PositiveIntegerField(default=7, help_text="Days from order to arrival.")
    active = models.BooleanField(default=True, help_text="Inactive suppliers get no new orders.")
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="supplier_code_unique_ci"),
            models.CheckConstraint(condition=~Q(code=""), name="supplier_code_not_empty"),
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


class ReorderPolicy(models.Model):
    """When to reorder an item for a warehouse: when available plus on-order stock falls to
    ``reorder_point`` or below, order up to ``order_up_to`` (empty: back to the reorder point
    plus the smallest order). ``safety_stock`` is the part of the reorder point kept for
    surprises: stock below it is reported as urgent."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reorder_policies")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="reorder_policies")
    reorder_point = models.DecimalField(**QTY, validators=[MinValueValidator(0)])
    safety_stock = models.DecimalField(**QTY, default=ZERO, validators=[MinValueValidator(0)])
    order_up_to = models.DecimalField(**QTY, null=True, blank=True, help_text="Empty: reorder point.")
    history = HistoricalRecords()

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


class PurchaseOrderLine(models.Model):
    """``quantity`` of ``item`` at ``unit_cost`` per base unit; ``received_quantity`` grows with
    each receipt (never beyond ``quantity``)."""

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
            models.CheckConstraint(
                condition=Q(received_quantity__gte=0) & Q(received_quantity__lte=F("quantity")),
                name="purchaseorderline_received_within_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} x {self.item.sku}"

    @property
    def outstanding(self) -> Decimal:
        return self.quantity - self.received_quantity

"""The stock ledger: movements, the stock-level projection, lots, reservations, valuation.

Rules (docs/ledger.md and shared/DESIGN.md):
- Every change of quantity is a ``Movement`` from a source to a destination location; virtual
  locations (supplier, customer, loss/gain, scrap, transit) make each item's quantities over
  all locations sum to zero.
- Movements are append-only: ``save()`` on an existing row and ``delete()`` raise; a mistake is
  undone by a reversing movement (``reverses``).
- ``StockLevel`` is the only projection and only ``stock.services`` writes it, in the same
  transaction as the movement. Available = on_hand - reserved.
- Valuation per (item, warehouse) lives in ``ItemValuation`` (quantity and value) and, for FIFO
  items, in ``CostLayer`` rows whose remaining quantity and value sum to it. Every movement that
  crosses a warehouse boundary records its cost (``total_cost``) at posting time.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from catalog.models import MONEY, QTY, Item, Location, Warehouse
from catalog.units import format_quantity, plain

ZERO = Decimal(0)
QTY_STEP = Decimal("0.0001")
MONEY_STEP = Decimal("0.0001")


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a ledger row."""


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    ISSUE = "issue", "Sale / issue"
    TRANSFER = "transfer", "Transfer"
    ADJUSTMENT = "adjustment", "Adjustment"
    SCRAP = "scrap", "Scrap"
    CUSTOMER_RETURN = "customer_return", "Customer return"
    SUPPLIER_RETURN = "supplier_return", "Supplier return"
    REVERSAL = "reversal", "Reversal"
    # Value-only entries (rule 9): quantity 0, ``total_cost`` the signed change of the
    # destination's value (and minus that of the source's); see VALUE_ONLY_KINDS.
    COST_CORRECTION = "cost_correction", "Cost correction"
    LANDED_COST = "landed_cost", "Landed cost"
    PRICE_DIFFERENCE = "price_difference", "Price difference"
    WRITE_DOWN = "write_down", "Write-down"


# The kinds that change value and not quantity (docs/ledger.md, "Value-only entries"). Their
# movements have quantity 0 and a signed ``total_cost``: the change of value at the destination
# (an internal location: the warehouse's value on hand; a virtual one: cost of goods sold, loss)
# and minus that at the source. A reversal of one of them is a quantity-0 ``reversal``.
VALUE_ONLY_KINDS: tuple[str, ...] = (
    MovementKind.COST_CORRECTION,
    MovementKind.LANDED_COST,
    MovementKind.PRICE_DIFFERENCE,
    MovementKind.WRITE_DOWN,
)


class Lot(models.Model):
    """A batch of an item. Perishable items' lots carry an expiry date (checked by the
    services, which know the item)."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="lots")
    code = models.CharField(max_length=64)
    expiry_date = models.DateField(null=True, blank=True)
    received_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["item", F("expiry_date").asc(nulls_last=True), "code"]
        constraints = [models.UniqueConstraint(fields=["item", "code"], name="lot_code_unique_per_item")]
        indexes = [models.Index(fields=["expiry_date"])]

    def __str__(self) -> str:
        return f"{self.code} (exp. {self.expiry_date})" if self.expiry_date else self.code


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ANN003 - Django signature
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only: post a reversal instead.")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only: post a reversal instead.")


class LedgerWriteError(AppendOnlyError):
    """Raised on a bulk ``update()`` or ``delete()`` of a projection of the ledger."""


class LedgerQuerySet(models.QuerySet):
    """Stock levels, valuations, FIFO layers and their consumptions follow the movements: only
    a posting of ``stock.services`` changes them, in the movement's transaction (its private
    write path is plain SQL, ``stock/services/locks.py``). A bulk ``update()`` or ``delete()``
    would make them disagree with the ledger, so both are refused. tests/conftest.py also
    fails any test in which project code outside ``stock/services/`` writes these tables."""

    def update(self, **kwargs):  # noqa: ANN003 - Django signature
        raise LedgerWriteError(
            f"{self.model.__name__} rows change only by posting movements (stock.services), never by update()."
        )

    def delete(self):
        raise LedgerWriteError(
            f"{self.model.__name__} rows change only by posting movements (stock.services), never by delete()."
        )


class Movement(models.Model):
    """One double-entry line of the ledger: ``quantity`` (> 0, base units) of ``item`` (and
    ``lot``) leaves ``source`` and arrives at ``destination``.

    ``id`` is the monotonic posting sequence. Movements posted together share ``batch`` and are
    numbered by ``batch_line``; the idempotency key is stored on line 1 and names the whole
    batch. ``unit_cost``/``total_cost`` are the cost carried by the movement at posting time:
    what it added to, or took out of, the destination's or source's warehouse valuation.
    """

    id = models.BigAutoField(primary_key=True)
    batch = models.UUIDField(default=uuid.uuid4, db_index=True, editable=False)
    batch_line = models.PositiveSmallIntegerField(default=1)
    # No database foreign keys on item, source, destination and actor (docs/ledger.md, "Why
    # movements have no foreign keys to items, locations and users"): checking them locked the
    # customer and supplier locations and the posting user in every posting. The movement's two
    # StockLevel rows carry the item and location keys (levels are never deleted); PROTECT still
    # guards deletes through Django; reconciliation reports a movement whose actor is gone.
    # item and lot are indexed by the Meta indexes (item first in three of them; lot partially).
    item = models.ForeignKey(
        Item, on_delete=models.PROTECT, related_name="movements", db_index=False, db_constraint=False
    )
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    quantity = models.DecimalField(**QTY)
    source = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="outgoing_movements", db_constraint=False
    )
    destination = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="incoming_movements", db_constraint=False
    )
    kind = models.CharField(max_length=20, choices=MovementKind.choices)
    reason_code = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)
    unit_cost = models.DecimalField(**MONEY, default=ZERO)
    total_cost = models.DecimalField(**MONEY, default=ZERO)
    reference_type = models.CharField(max_length=60, blank=True, help_text="Kind of causing document.")
    reference_id = models.CharField(max_length=100, blank=True)
    reference_line = models.CharField(max_length=40, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    occurred_at = models.DateTimeField()
    posted_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # unique: see Meta
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    # The movement this one is about: the issue a cost correction settles, the receipt a landed
    # cost or price difference or a reversal's correction applies to, the receipt a supplier return
    # or the issue a customer return gives back (docs/ledger.md, "Valuation").
    origin = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_ups", db_index=False
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Quantity 0 only for value-only entries and their reversals (rule 9).
            models.CheckConstraint(
                condition=Q(quantity__gt=0) | Q(quantity=0, kind__in=[*VALUE_ONLY_KINDS, MovementKind.REVERSAL]),
                name="movement_quantity_positive",
            ),
            models.CheckConstraint(condition=~Q(source=F("destination")), name="movement_two_sides"),
            # A constraint rather than unique=True: the field option also builds a LIKE index
            # that no query uses and every posting would maintain.
            models.UniqueConstraint(fields=["idempotency_key"], name="movement_idempotency_key_unique"),
        ]
        indexes = [
            models.Index(fields=["item", "destination", "occurred_at"], name="movement_in_asof"),
            models.Index(fields=["item", "source", "occurred_at"], name="movement_out_asof"),
            models.Index(fields=["item", "occurred_at", "id"], name="movement_item_card"),
            models.Index(fields=["occurred_at"], name="movement_occurred"),
            models.Index(fields=["reference_type", "reference_id"], name="movement_reference"),
            models.Index(fields=["lot"], condition=Q(lot__isnull=False), name="movement_lot"),
            models.Index(fields=["origin"], condition=Q(origin__isnull=False), name="movement_origin"),
        ]

    def __str__(self) -> str:
        quantity = format_quantity(self.quantity, self.item.base_unit, with_unit=False)
        return f"#{self.pk} {self.get_kind_display()} {quantity} {self.item.sku}"

    def save(self, *args, **kwargs):  # noqa: ANN002, ANN003 - Django signature
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyError("Movements are append-only: post a reversal instead of editing.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # noqa: ANN002, ANN003
        raise AppendOnlyError("Movements are append-only: post a reversal instead of deleting.")

    @property
    def is_value_only(self) -> bool:
        """A value-only entry (or its reversal): quantity 0, value in ``total_cost``."""
        return self.quantity == 0

    @property
    def sequence(self) -> int:
        """The monotonic posting sequence (the primary key)."""
        return self.pk


class StockLevel(models.Model):
    """The projection of the ledger per (item, location, lot).

    Invariants: ``on_hand`` equals the sum of the movements into the location minus those out
    of it (checked by ``stock.reconciliation``); ``reserved`` is between 0 and ``on_hand``;
    ``on_hand >= 0`` unless ``allow_negative``, which the posting service sets on every write
    from the location's warehouse policy (virtual locations always allow negative: the supplier
    location is minus everything ever received). Rows are locked with ``SELECT ... FOR UPDATE``
    in (item, location, lot) order by ``stock.services`` only.
    """

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="stock_levels")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stock_levels")
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.DecimalField(**QTY, default=ZERO)
    reserved = models.DecimalField(**QTY, default=ZERO)
    allow_negative = models.BooleanField(default=False)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "location", "lot"], condition=Q(lot__isnull=False), name="stocklevel_unique_lot"
            ),
            models.UniqueConstraint(
                fields=["item", "location"], condition=Q(lot__isnull=True), name="stocklevel_unique_nolot"
            ),
            models.CheckConstraint(condition=Q(allow_negative=True) | Q(on_hand__gte=0), name="stocklevel_no_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stocklevel_reserved_non_negative"),
            models.CheckConstraint(
                condition=Q(reserved=0) | Q(reserved__lte=F("on_hand")), name="stocklevel_reserved_within_on_hand"
            ),
        ]
        indexes = [models.Index(fields=["location", "item"], name="stocklevel_location_item")]

    def __str__(self) -> str:
        lot = f" lot {self.lot.code}" if self.lot_id else ""
        return f"{self.item.sku}{lot} @ {self.location}: {format_quantity(self.on_hand, self.item.base_unit)}"

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved


class ReservationStatus(models.TextChoices):
    OPEN = "open", "Open"
    CONSUMED = "consumed", "Consumed"
    RELEASED = "released", "Released"


class Reservation(models.Model):
    """Quantity of an item held for a demand document (an order, a transfer, a pick) in a
    warehouse, optionally at one location or lot. The held quantity is allocated to stock
    levels (``ReservationLine``) whose ``reserved`` it raises. ``quantity = consumed + released
    + open`` at all times; consuming issues the stock, releasing gives it back."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="reservations")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="reservations")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QTY)
    consumed = models.DecimalField(**QTY, default=ZERO)
    released = models.DecimalField(**QTY, default=ZERO)
    status = models.CharField(max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.OPEN)
    reference_type = models.CharField(max_length=60, blank=True)
    reference_id = models.CharField(max_length=100, blank=True)
    reference_line = models.CharField(max_length=40, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_positive"),
            models.CheckConstraint(
                condition=Q(consumed__gte=0) & Q(released__gte=0) & Q(quantity__gte=F("consumed") + F("released")),
                name="reservation_parts_within_quantity",
            ),
        ]
        indexes = [models.Index(fields=["reference_type", "reference_id"], name="reservation_reference")]

    def __str__(self) -> str:
        quantity = format_quantity(self.quantity, self.item.base_unit, with_unit=False)
        return f"Reservation #{self.pk} {quantity} {self.item.sku} ({self.status})"

    @property
    def open_quantity(self) -> Decimal:
        return self.quantity - self.consumed - self.released


class ReservationLine(models.Model):
    """The part of a reservation held at one (location, lot); ``quantity`` is what is still held."""

    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="lines")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QTY)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=0), name="reservationline_non_negative")]

    def __str__(self) -> str:
        return f"{plain(self.quantity)} @ {self.location}"


class ItemValuation(models.Model):
    """Quantity and value of an item in a warehouse (its internal locations). The moving
    average cost is ``value / quantity``; ``last_unit_cost`` prices issues while the quantity
    is not positive. The row's lock also guards the pair's FIFO layers."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="valuations")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="valuations")
    quantity = models.DecimalField(**QTY, default=ZERO)
    value = models.DecimalField(**MONEY, default=ZERO)
    last_unit_cost = models.DecimalField(**MONEY, default=ZERO)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "warehouse"], name="valuation_unique")]

    def __str__(self) -> str:
        quantity = format_quantity(self.quantity, self.item.base_unit)
        return f"{self.item.sku} @ {self.warehouse.code}: {quantity} = {self.value}"

    @property
    def average_cost(self) -> Decimal:
        return (self.value / self.quantity).quantize(MONEY_STEP) if self.quantity > 0 else self.last_unit_cost


class CostLayer(models.Model):
    """A FIFO layer: what one incoming movement brought into a warehouse at one unit cost,
    and how much of it (quantity and value) is still there. Issues consume the oldest first.

    A shortfall (``quantity`` 0, negative remains), under both methods, records what an outgoing
    movement took beyond the stock where negative stock is allowed, at its estimated cost; the
    next incoming stock settles the oldest shortfalls first (``shortfalls._arrive``). A pool is
    never short and stocked at once: its open layers are all positive or all shortfalls, and
    moving-average items have only shortfall layers (summing to the valuation while negative)."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="cost_layers")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="cost_layers")
    movement = models.ForeignKey(Movement, on_delete=models.PROTECT, related_name="cost_layers")
    received_at = models.DateTimeField()
    unit_cost = models.DecimalField(**MONEY)
    quantity = models.DecimalField(**QTY)
    remaining_quantity = models.DecimalField(**QTY)
    remaining_value = models.DecimalField(**MONEY)

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            models.Index(
                fields=["item", "warehouse", "received_at", "id"],
                condition=~Q(remaining_quantity=0),
                name="costlayer_open",
            )
        ]

    def __str__(self) -> str:
        return f"{plain(self.remaining_quantity)}/{plain(self.quantity)} @ {self.unit_cost}"


class CostLayerConsumption(models.Model):
    """What an outgoing movement took from one FIFO layer (kept to undo it on reversal)."""

    movement = models.ForeignKey(Movement, on_delete=models.PROTECT, related_name="layer_consumptions")
    layer = models.ForeignKey(CostLayer, on_delete=models.PROTECT, related_name="consumptions")
    quantity = models.DecimalField(**QTY)
    value = models.DecimalField(**MONEY)

    objects = LedgerQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{plain(self.quantity)} from layer {self.layer_id}"


class AdjustmentRequestKind(models.TextChoices):
    SCRAP = "scrap", "Scrap"
    ADJUSTMENT = "adjustment", "Adjustment"


class AdjustmentRequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved and posted"
    REJECTED = "rejected", "Rejected"


class AdjustmentRequest(models.Model):
    """A scrap or adjustment asked for on the warehouse floor that needs a manager's approval
    before it posts (above the approval limits, or asked by someone who may not adjust stock
    themselves). Nothing moves until ``stock.services.adjustment_request_approve`` posts it
    through ``stock_scrap``/``stock_adjust``; ``movement`` then names the posting.

    ``quantity`` is the signed change at ``location``: negative takes stock out (scrap, loss),
    positive brings it in (gain); a scrap is always negative. ``unit_cost`` and ``value`` are the
    estimate the limit was checked against when asked. ``idempotency_key`` makes a re-sent
    request create one row."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="adjustment_requests")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="adjustment_requests")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="adjustment_requests")
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustment_requests")
    kind = models.CharField(max_length=12, choices=AdjustmentRequestKind.choices)
    quantity = models.DecimalField(**QTY, help_text="Signed change: negative takes stock out.")
    reason_code = models.CharField(max_length=40)
    note = models.TextField(blank=True)
    unit_cost = models.DecimalField(**MONEY, default=ZERO)
    value = models.DecimalField(**MONEY, default=ZERO, help_text="Estimated value of the change when asked.")
    approval_reason = models.CharField(max_length=200, blank=True, help_text="Why it needs approval.")
    status = models.CharField(
        max_length=10, choices=AdjustmentRequestStatus.choices, default=AdjustmentRequestStatus.PENDING
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    movement = models.ForeignKey(
        Movement, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustment_requests"
    )
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="adjustmentrequest_quantity_not_zero"),
            models.CheckConstraint(
                condition=~Q(kind="scrap") | Q(quantity__lt=0), name="adjustmentrequest_scrap_takes_out"
            ),
            models.CheckConstraint(condition=~Q(reason_code=""), name="adjustmentrequest_reason_required"),
        ]
        indexes = [models.Index(fields=["status", "warehouse"], name="adjustmentrequest_open")]

    def __str__(self) -> str:
        change = f"{self.quantity.normalize():+f}"
        return f"Request #{self.pk}: {self.get_kind_display().lower()} {change} {self.item.sku} @ {self.location}"

    @property
    def is_pending(self) -> bool:
        return self.status == AdjustmentRequestStatus.PENDING

    @property
    def size(self) -> Decimal:
        """The quantity without its sign (how many are scrapped, missing or found)."""
        return abs(self.quantity)


class ReconciliationRun(models.Model):
    """One run of ``stock.reconciliation.reconcile`` (nightly by beat, or ``manage.py
    reconcile``): when it started, how long it took, which checks ran and every difference found
    (check, item, location, lot, expected, found), so the result is not only in a worker's log.
    Written once by ``stock.reconciliation.reconcile_and_record``; never edited."""

    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)
    checks = models.JSONField(default=list, help_text="Names of the checks that ran.")
    difference_count = models.PositiveIntegerField(default=0)
    differences = models.JSONField(default=list, help_text="Every difference (at most 5,000 kept).")
    trigger = models.CharField(max_length=20, default="nightly", help_text="nightly or command")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        when = self.started_at.strftime("%Y-%m-%d %H:%M") if self.started_at else "?"
        return f"Reconciliation {when}: {self.difference_count} difference(s)"

    @property
    def balanced(self) -> bool:
        return self.difference_count == 0


class PeriodClose(models.Model):
    """A closed period: the balances of the whole stock at ``period_end`` (exclusive: movements
    with ``occurred_at < period_end``) over the movements up to ``last_movement_id``.

    As of any moment T at or after ``period_end``: balance + movements with ``period_end <=
    occurred_at <= T`` + the "late" movements (``id > last_movement_id`` and ``occurred_at <
    period_end``: back-dated into the closed period after it closed). So a back-dated posting
    never makes a balance wrong and no balance is ever rewritten; ``reconcile`` checks each
    stored balance plus its late movements against the full sum of the ledger
    (docs/reports.md, "Period balances"). Written only by ``stock.services.period_balances_close``."""

    period_end = models.DateTimeField(unique=True)
    last_movement_id = models.BigIntegerField()
    closed_at = models.DateTimeField()
    rows = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-period_end"]

    def __str__(self) -> str:
        return f"Balances before {self.period_end:%Y-%m-%d %H:%M} (movements up to #{self.last_movement_id})"


class PeriodBalance(models.Model):
    """One balance of a ``PeriodClose``: the quantity of (item, internal location, lot) when
    ``location`` is set; the quantity and value of (item, warehouse) when ``location`` is empty
    (value is kept per item and warehouse, docs/ledger.md). No foreign keys to items, locations
    and lots (as movements: docs/ledger.md), only to the close."""

    close = models.ForeignKey(PeriodClose, on_delete=models.CASCADE, related_name="balances")
    item_id = models.BigIntegerField()
    warehouse_id = models.BigIntegerField()
    location_id = models.BigIntegerField(null=True)
    lot_id = models.BigIntegerField(null=True)
    quantity = models.DecimalField(**QTY, default=ZERO)
    value = models.DecimalField(**MONEY, default=ZERO)

    class Meta:
        indexes = [models.Index(fields=["close", "warehouse_id", "item_id"], name="periodbalance_close")]

    def __str__(self) -> str:
        return f"{self.item_id}@{self.location_id or self.warehouse_id}: {plain(self.quantity)}"


class ShortPick(models.Model):
    """A pick that came up short at a bin: the clerk (floor Pick job, or an issue through the API
    naming the bin) asked for more than the bin had available, so the pick was refused (the
    refusal itself writes no movement). A signal for the count plan (``counting`` reads these:
    stock never imports counting): the bin's book stock may be wrong. Written only by
    ``stock.services.short_pick_record``, at most one per (item, bin, lot) and day; a count of
    that item and bin counted at or after ``at`` settles it (counting decides, from its lines)."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="short_picks")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="short_picks")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="short_picks")
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="short_picks")
    asked = models.DecimalField(**QTY)
    available = models.DecimalField(**QTY)
    at = models.DateTimeField(db_index=True)
    day = models.DateField(help_text="The local day of ``at`` (one record per item, bin, lot and day).")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=10, help_text="floor or api")

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["warehouse", "at"], name="shortpick_warehouse_at")]

    def __str__(self) -> str:
        lot = f" lot {self.lot.code}" if self.lot_id else ""
        asked, there = plain(self.asked), plain(self.available)
        return f"Short pick {self.item.sku}{lot} @ {self.location}: asked {asked}, {there} there"

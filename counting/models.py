"""Cycle counting: ABC classes per warehouse, counts (planned, manual, recounts) and their lines.

Invariants (docs/counting.md):
- counting never writes stock: every correction is an adjustment posted by ``stock.services``
  with the count line as its reference (``reference_type="counting.countline"``), and the line
  keeps the movement (``CountLine.movement``); nothing adjusts stock without a line;
- a line's ``variance`` is ``counted_quantity - book_quantity`` where ``book_quantity`` is the
  ledger's quantity of (item, bin, lot) *as of* ``counted_at``; the adjustment is posted with
  ``occurred_at = counted_at``, so moves between counting and approval neither create a false
  variance nor correct one twice, and a later count's book quantity already includes it;
- a line is decided once: ``posted`` (within tolerance), ``approved`` or ``rejected`` (by a
  manager, with a reason code), or ``superseded`` (a later count of the same bin, item and lot
  was posted first: the most recent count wins).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from catalog.models import MONEY, QTY, Item, Location, Warehouse
from stock.models import Lot, Movement

ZERO = Decimal(0)


class AbcClass(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"


# class -> (share of consumption value %, counts per year, tolerance %, tolerance value)
DEFAULT_POLICIES: dict[str, tuple[Decimal, int, Decimal, Decimal]] = {
    AbcClass.A: (Decimal(80), 12, Decimal(0), Decimal("0.00")),
    AbcClass.B: (Decimal(15), 4, Decimal(1), Decimal("20.00")),
    AbcClass.C: (Decimal(5), 2, Decimal(2), Decimal("50.00")),
}


class ClassPolicy(models.Model):
    """What an ABC class means in one warehouse: its share of the consumption value (the A items
    are those making up the first ``value_share`` %, B the next), how often it is counted, and
    the tolerance within which a count posts without a recount: ``|variance| <= tolerance_percent``
    % of the book quantity **and** ``|variance value| <= tolerance_value``. Created with the
    defaults (A 80 % / 12 a year / 0 % / 0.00, B 15 % / 4 / 1 % / 20.00, C 5 % / 2 / 2 % / 50.00)
    the first time a warehouse is classed or counted; managers edit them in the admin."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="count_policies")
    abc_class = models.CharField("class", max_length=1, choices=AbcClass.choices)
    value_share = models.DecimalField(max_digits=5, decimal_places=2, help_text="% of consumption value.")
    counts_per_year = models.PositiveSmallIntegerField()
    tolerance_percent = models.DecimalField(max_digits=5, decimal_places=2, help_text="% of the book quantity.")
    tolerance_value = models.DecimalField(**MONEY)
    history = HistoricalRecords()

    class Meta:
        ordering = ["warehouse__code", "abc_class"]
        verbose_name_plural = "class policies"
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "abc_class"], name="classpolicy_unique"),
            models.CheckConstraint(
                condition=Q(value_share__gte=0, value_share__lte=100), name="classpolicy_share_percent"
            ),
            models.CheckConstraint(
                condition=Q(tolerance_percent__gte=0, tolerance_value__gte=0), name="classpolicy_tolerance_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse.code} class {self.abc_class}"


class ItemClass(models.Model):
    """The ABC class of an item in a warehouse: ``computed_class`` from the last 12 months' cost
    of goods issued (``consumption_value``, written by ``abc_classify``), unless a manager set
    ``override_class``. Items without a row are class C."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="item_classes")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="count_classes")
    computed_class = models.CharField(max_length=1, choices=AbcClass.choices, default=AbcClass.C)
    consumption_value = models.DecimalField(**MONEY, default=ZERO)
    computed_at = models.DateTimeField(null=True, blank=True)
    override_class = models.CharField(
        max_length=1, choices=AbcClass.choices, blank=True, help_text="Set to keep the class whatever is computed."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["warehouse__code", "item__sku"]
        constraints = [models.UniqueConstraint(fields=["warehouse", "item"], name="itemclass_unique")]

    def __str__(self) -> str:
        return f"{self.item.sku} @ {self.warehouse.code}: {self.abc_class}"

    @property
    def abc_class(self) -> str:
        return self.override_class or self.computed_class


class CountKind(models.TextChoices):
    PLANNED = "planned", "Planned (count_plan)"
    MANUAL = "manual", "Started by a manager"
    RECOUNT = "recount", "Recount"


class CountStatus(models.TextChoices):
    OPEN = "open", "Open"
    SUBMITTED = "submitted", "Submitted"
    CLOSED = "closed", "Closed"


class Count(models.Model):
    """A count of some bins and items of one warehouse. ``open`` while clerks count its lines,
    ``submitted`` once a clerk submitted it (each line then posts, waits for a recount or for
    approval), ``closed`` when every line is decided. A planned count covers one zone on one
    day (``planned_for``, ``zone``); a recount covers one line of an earlier count and is
    assigned to another clerk than the one who counted it (``excluded_user``)."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="counts")
    kind = models.CharField(max_length=10, choices=CountKind.choices, default=CountKind.MANUAL)
    status = models.CharField(max_length=10, choices=CountStatus.choices, default=CountStatus.OPEN)
    blind = models.BooleanField(default=True, help_text="Clerks never see the book quantity.")
    planned_for = models.DateField(null=True, blank=True)
    zone = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    excluded_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who counted the line being recounted: they may not recount it.",
    )
    locations = models.ManyToManyField(
        Location, blank=True, related_name="+", help_text="The bins this count covers (found items may be added there)."
    )
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    submit_key = models.CharField(
        max_length=200, null=True, blank=True, unique=True, help_text="Idempotency key of the submit (a floor form)."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["warehouse", "status"], name="count_open"),
            models.Index(fields=["warehouse", "planned_for"], name="count_planned_for"),
        ]

    def __str__(self) -> str:
        return f"Count #{self.pk} {self.warehouse.code} ({self.status})"


class LineStatus(models.TextChoices):
    TO_COUNT = "to_count", "To count"
    COUNTED = "counted", "Counted"
    POSTED = "posted", "Within tolerance, posted"
    RECOUNT = "recount", "Waiting for a recount"
    WAITING = "waiting", "Waiting for approval"
    APPROVED = "approved", "Approved and posted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded by a later count"


DECIDED = (LineStatus.POSTED, LineStatus.APPROVED, LineStatus.REJECTED, LineStatus.SUPERSEDED)
UNDECIDED = (LineStatus.COUNTED, LineStatus.RECOUNT, LineStatus.WAITING)


class ReasonCode(models.TextChoices):
    DAMAGED = "damaged", "Damaged"
    THEFT = "theft", "Theft"
    MIS_PICK = "mis_pick", "Mis-pick"
    RECEIVING_ERROR = "receiving_error", "Receiving error"
    UNRECORDED_SCRAP = "unrecorded_scrap", "Unrecorded scrap"
    UNIT_ERROR = "unit_error", "Unit-of-measure error"
    UNKNOWN = "unknown", "Unknown"


class CountLine(models.Model):
    """One (bin, item, lot) of a count. ``expected`` lines were planned; a clerk may add what
    they found (``expected=False``). Counting fills ``counted_quantity`` (base units),
    ``counted_at`` and ``counted_by``; submitting fills ``book_quantity`` (the ledger as of
    ``counted_at``), ``variance`` and its value, and decides the line (see ``LineStatus``).
    ``recount_line`` is the line of the recount this one waits for; ``movement`` the adjustment
    that corrected stock (none when the variance was zero)."""

    count = models.ForeignKey(Count, on_delete=models.CASCADE, related_name="lines")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="count_lines")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="count_lines")
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="count_lines")
    expected = models.BooleanField(default=True)
    status = models.CharField(max_length=12, choices=LineStatus.choices, default=LineStatus.TO_COUNT)
    counted_quantity = models.DecimalField(**QTY, null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    book_quantity = models.DecimalField(**QTY, null=True, blank=True)
    variance = models.DecimalField(**QTY, null=True, blank=True)
    unit_cost = models.DecimalField(**MONEY, null=True, blank=True)
    variance_value = models.DecimalField(**MONEY, null=True, blank=True)
    abc_class = models.CharField("class", max_length=1, choices=AbcClass.choices, blank=True)
    within_tolerance = models.BooleanField(null=True, blank=True)
    recount_line = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="recount_of"
    )
    reason_code = models.CharField(max_length=20, choices=ReasonCode.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    movement = models.ForeignKey(Movement, null=True, blank=True, on_delete=models.PROTECT, related_name="count_lines")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["count", "location__code", "item__sku", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["count", "location", "item", "lot"], condition=Q(lot__isnull=False), name="countline_unique_lot"
            ),
            models.UniqueConstraint(
                fields=["count", "location", "item"], condition=Q(lot__isnull=True), name="countline_unique_nolot"
            ),
            models.CheckConstraint(
                condition=Q(counted_quantity__isnull=True) | Q(counted_quantity__gte=0),
                name="countline_counted_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "rejected"]) | ~Q(reason_code=""),
                name="countline_decision_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["item", "location", "status"], name="countline_key_status"),
            models.Index(fields=["status", "counted_at"], name="countline_status_counted"),
        ]

    def __str__(self) -> str:
        lot = f" lot {self.lot.code}" if self.lot_id else ""
        return f"Line #{self.pk} {self.item.sku}{lot} @ {self.location.code}"

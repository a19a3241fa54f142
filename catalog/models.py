"""Master data: categories, units of measure, items, barcodes, warehouses and locations.

Invariants kept by the database (constraints) rather than by code alone:
- an item's SKU is unique ignoring case (trimmed by ``normalize_sku`` before it is stored);
- a barcode code is unique across all items;
- a location code is unique within its warehouse; virtual locations have no warehouse and a
  unique code; only internal locations belong to a warehouse.
"""

from __future__ import annotations

import time
import zoneinfo
from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.db.models import Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords
from stdnum import ean

from common.db import ModelRows, fetch_rows

from .freezing import item_validate_frozen, location_validate_frozen, unit_validate_frozen, warehouse_validate_frozen


class DecimalSpec(TypedDict):
    """The precision of a decimal column, spread into ``DecimalField(**QTY)``."""

    max_digits: int
    decimal_places: int


QTY: DecimalSpec = {"max_digits": 18, "decimal_places": 4}
MONEY: DecimalSpec = {"max_digits": 20, "decimal_places": 4}
PATH_SEPARATOR = " > "


def normalize_sku(value: str) -> str:
    """A SKU as stored: surrounding whitespace removed (uniqueness ignores case)."""
    return (value or "").strip()


def normalize_code(value: str) -> str:
    """Codes (barcodes, location codes) as stored: trimmed, inner spaces removed."""
    return "".join((value or "").split())


class ValuationMethod(models.TextChoices):
    MOVING_AVERAGE = "average", "Moving average"
    FIFO = "fifo", "FIFO"


class Category(models.Model):
    """A node of the category tree. ``path`` is the full name from the root, kept by
    ``catalog.services.category_save`` for this node and all its descendants."""

    name = models.CharField(max_length=120)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=1000, editable=False, db_index=True)
    valuation_method = models.CharField(
        max_length=10,
        choices=ValuationMethod.choices,
        blank=True,
        help_text="Default for new items in this category; empty means the parent's.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "parent", name="category_name_unique_in_parent"),
            models.UniqueConstraint(
                Lower("name"),
                condition=Q(parent__isnull=True),
                name="category_root_name_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.path or self.name

    def ancestors(self) -> list[Category]:
        """From the root down to the parent; raises ValidationError on a cycle."""
        chain: list[Category] = []
        seen = {self.pk} if self.pk else set()
        node = self.parent
        while node is not None:
            if node.pk in seen:
                raise ValidationError({"parent": "A category cannot be inside itself."})
            seen.add(node.pk)
            chain.append(node)
            node = node.parent
        return list(reversed(chain))

    def compute_path(self) -> str:
        return PATH_SEPARATOR.join([a.name for a in self.ancestors()] + [self.name])

    def effective_valuation_method(self) -> str:
        node: Category | None = self
        while node is not None:
            if node.valuation_method:
                return node.valuation_method
            node = node.parent
        return ValuationMethod.MOVING_AVERAGE

    def clean(self) -> None:
        self.name = (self.name or "").strip()
        if PATH_SEPARATOR.strip() in self.name:
            raise ValidationError({"name": "A category name cannot contain '>'."})
        self.ancestors()


class Dimension(models.TextChoices):
    COUNT = "count", "Count"
    MASS = "mass", "Mass"
    VOLUME = "volume", "Volume"
    LENGTH = "length", "Length"


class UnitOfMeasure(models.Model):
    """A unit, convertible to the other units of its dimension through ``ratio``: how many
    reference units (each, kg, l, m) one of this unit is. A unit without ratio has no
    conversion; items using it must give their own factor."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=60)
    dimension = models.CharField(max_length=10, choices=Dimension.choices, default=Dimension.COUNT)
    ratio = models.DecimalField(
        **QTY,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="Reference units in one of this unit (each=1, box of 12=12, kg=1, g=0.001).",
    )
    # Default 0: most units are counted (each, box, pair), and a unit that refuses 1.25 says so
    # at once and is fixed in a minute, while one that accepts half a headlamp splits stock
    # silently (issue 12). Mass, volume and length units get their places when created.
    decimal_places = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(4)],
        help_text="Decimal places a quantity in this unit may have: 0 = whole units (each, box), "
        "3 = kg to the gram, 2 = m to the centimetre. At most 4.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "unit of measure"
        verbose_name_plural = "units of measure"
        ordering = ["dimension", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(ratio__isnull=True) | Q(ratio__gt=0), name="unit_ratio_positive"),
            models.CheckConstraint(condition=Q(decimal_places__lte=4), name="unit_decimal_places_at_most_4"),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        from .units import decimal_places_problem  # units reads the ledger through Item's relations

        unit_validate_frozen(self)  # ratio and dimension, once the ledger uses the unit
        problem = decimal_places_problem(self)  # no fewer places than its stock uses
        if problem:
            raise ValidationError({"decimal_places": problem})

    def factor_to(self, other: UnitOfMeasure) -> Decimal:
        """How many ``other`` units make one of this unit; ValidationError if not convertible."""
        if self.pk == other.pk:
            return Decimal(1)
        if self.dimension != other.dimension:
            raise ValidationError(f"Cannot convert {self.code} ({self.dimension}) to {other.code} ({other.dimension}).")
        if self.ratio is None or other.ratio is None:
            raise ValidationError(f"No conversion between {self.code} and {other.code}.")
        return self.ratio / other.ratio

    def convert(self, quantity: Decimal, to: UnitOfMeasure) -> Decimal:
        return quantity * self.factor_to(to)


class ItemStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISCONTINUED = "discontinued", "Discontinued"


class Tracking(models.TextChoices):
    NONE = "none", "None"
    LOT = "lot", "Lot"
    SERIAL = "serial", "Serial number"


class ItemQuerySet(models.QuerySet):
    def active(self) -> ItemQuerySet:
        return self.filter(status=ItemStatus.ACTIVE)

    def by_sku(self, sku: str) -> ItemQuerySet:
        return self.filter(sku__iexact=normalize_sku(sku))


class Item(models.Model):
    """A stock-keeping unit. Quantities of an item are always in its ``base_unit``;
    purchase and sales units convert with their factor (base units per one of that unit)."""

    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="items")
    # No index on the unit columns but partial ones where a unit is set (Meta.indexes): only
    # deleting a unit looks items up by unit, and every index costs each imported row (docs/imports.md).
    base_unit = models.ForeignKey(UnitOfMeasure, on_delete=models.PROTECT, related_name="+", db_index=False)
    purchase_unit = models.ForeignKey(
        UnitOfMeasure, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    purchase_factor = models.DecimalField(
        **QTY, null=True, blank=True, help_text="Base units in one purchase unit; empty: by conversion."
    )
    sales_unit = models.ForeignKey(
        UnitOfMeasure, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    sales_factor = models.DecimalField(
        **QTY, null=True, blank=True, help_text="Base units in one sales unit; empty: by conversion."
    )
    status = models.CharField(max_length=15, choices=ItemStatus.choices, default=ItemStatus.ACTIVE)
    discontinued_on = models.DateField(null=True, blank=True)
    tracking = models.CharField(max_length=10, choices=Tracking.choices, default=Tracking.NONE)
    perishable = models.BooleanField(default=False)
    shelf_life_days = models.PositiveIntegerField(null=True, blank=True)
    standard_cost = models.DecimalField(**MONEY, default=Decimal(0), validators=[MinValueValidator(0)])
    valuation_method = models.CharField(
        max_length=10,
        choices=ValuationMethod.choices,
        blank=True,
        help_text="Empty on creation: taken from the category.",
    )
    weight_kg = models.DecimalField(**QTY, null=True, blank=True, validators=[MinValueValidator(0)])
    length_cm = models.DecimalField(**QTY, null=True, blank=True, validators=[MinValueValidator(0)])
    width_cm = models.DecimalField(**QTY, null=True, blank=True, validators=[MinValueValidator(0)])
    height_cm = models.DecimalField(**QTY, null=True, blank=True, validators=[MinValueValidator(0)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # History rows are looked up by item and date, never by category or unit: no index on those.
    # The user column keeps its index (the audit page filters by user) but has no database
    # foreign key, so bulk imports do not check one per record (docs/imports.md).
    history = HistoricalRecords(
        no_db_index=["category", "base_unit", "purchase_unit", "sales_unit"], user_db_constraint=False
    )

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(Lower("sku"), name="item_sku_unique_ci"),
            models.CheckConstraint(condition=~Q(sku=""), name="item_sku_not_empty"),
            models.CheckConstraint(
                condition=Q(purchase_factor__isnull=True) | Q(purchase_factor__gt=0),
                name="item_purchase_factor_positive",
            ),
            models.CheckConstraint(
                condition=Q(sales_factor__isnull=True) | Q(sales_factor__gt=0),
                name="item_sales_factor_positive",
            ),
            models.CheckConstraint(condition=Q(standard_cost__gte=0), name="item_standard_cost_non_negative"),
        ]
        indexes = [
            models.Index(fields=["status"]),
            models.Index(Lower("name"), name="item_name_lower"),
            models.Index(fields=["purchase_unit"], condition=Q(purchase_unit__isnull=False), name="item_purchase_unit"),
            models.Index(fields=["sales_unit"], condition=Q(sales_unit__isnull=False), name="item_sales_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    def unit_factor(self, unit: UnitOfMeasure | None, factor: Decimal | None) -> Decimal | None:
        """Base units in one ``unit``: the explicit factor, else the unit conversion, else None."""
        if unit is None:
            return None
        if factor is not None:
            return factor
        try:
            return unit.factor_to(self.base_unit)
        except ValidationError:
            return None

    @property
    def purchase_factor_effective(self) -> Decimal | None:
        return self.unit_factor(self.purchase_unit, self.purchase_factor)

    @property
    def sales_factor_effective(self) -> Decimal | None:
        return self.unit_factor(self.sales_unit, self.sales_factor)

    def clean(self) -> None:
        from .units import conversion_problem  # units reads models at call time only

        self.sku = normalize_sku(self.sku)
        errors: dict[str, str] = {}
        if not self.sku:
            errors["sku"] = "The SKU cannot be empty."
        elif Item.objects.by_sku(self.sku).exclude(pk=self.pk).exists():
            errors["sku"] = f"SKU {self.sku!r} already exists (SKUs are compared ignoring case)."
        if self.perishable and not self.shelf_life_days:
            errors["shelf_life_days"] = "A perishable item needs its shelf life in days."
        if self.status == ItemStatus.DISCONTINUED and not self.discontinued_on:
            errors["discontinued_on"] = "A discontinued item needs the date it was discontinued."
        if self.base_unit_id:
            for unit_field, factor_field in (("purchase_unit", "purchase_factor"), ("sales_unit", "sales_factor")):
                unit = getattr(self, unit_field)
                factor = self.unit_factor(unit, getattr(self, factor_field))
                if unit is not None and factor is None:
                    errors[factor_field] = (
                        f"{unit.code} does not convert to {self.base_unit.code}: give the number of "
                        f"{self.base_unit.code} in one {unit.code}."
                    )
                elif factor is not None and (problem := conversion_problem(self, unit, factor)):
                    errors[factor_field] = problem  # 1 box = 2.5 each: the base unit cannot count it
        if errors:
            raise ValidationError(errors)
        item_validate_frozen(self)  # base unit, tracking, valuation method once it has movements

    def has_stock_history(self) -> bool:
        """True once any movement names this item (reverse relation of the stock ledger)."""
        related = getattr(self, "movements", None)
        return bool(related is not None and related.exists())


def validate_gtin(code: str) -> None:
    if not code.isdigit() or len(code) not in (8, 12, 13, 14):
        raise ValidationError(f"{code!r} is not a GTIN: a GTIN has 8, 12, 13 or 14 digits.")
    if not ean.is_valid(code):
        raise ValidationError(f"{code!r} has a wrong check digit (expected {ean.calc_check_digit(code[:-1])}).")


class BarcodeKind(models.TextChoices):
    GTIN = "gtin", "GTIN / EAN / UPC"
    INTERNAL = "internal", "Internal code"


class Barcode(models.Model):
    """A scannable code of an item. GTINs (8, 12, 13, 14 digits) must have a valid check digit;
    internal codes are free text. A code belongs to exactly one item."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="barcodes")
    # Unique by a constraint rather than ``unique=True``: the same unique index without the
    # second ``LIKE`` index Django adds to unique text columns (codes are only looked up whole).
    code = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=BarcodeKind.choices, default=BarcodeKind.GTIN)
    history = HistoricalRecords(no_db_index=["code"], user_db_constraint=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code"], name="barcode_code_unique"),
            models.CheckConstraint(condition=~Q(code=""), name="barcode_not_empty"),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        self.code = normalize_code(self.code)
        if not self.code:
            raise ValidationError({"code": "The barcode cannot be empty."})
        if self.kind == BarcodeKind.GTIN:
            try:
                validate_gtin(self.code)
            except ValidationError as exc:
                raise ValidationError({"code": exc.messages}) from exc


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (for example Europe/Amsterdam).")


class Warehouse(models.Model):
    """A site holding stock. Object permissions (django-guardian) on a warehouse scope what a
    user may see and do there."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    address = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    allow_negative_stock = models.BooleanField(
        default=False, help_text="Let postings take internal locations below zero (off by default)."
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        permissions = [
            ("view_warehouse_stock", "Can view stock in the warehouse"),
            ("post_warehouse_movements", "Can receive, move, issue and scrap in the warehouse"),
            ("adjust_warehouse_stock", "Can adjust stock in the warehouse"),
            ("approve_warehouse_adjustments", "Can approve adjustments and counts in the warehouse"),
            ("receive_warehouse_purchases", "Can receive purchase orders in the warehouse"),
            ("manage_warehouse", "Can edit the warehouse and its locations"),
            ("manage_warehouse_access", "Can grant and revoke rights in the warehouse"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        self.code = normalize_code(self.code).upper()
        warehouse_validate_frozen(self)  # negative stock stays allowed while any level is negative


class LocationKind(models.TextChoices):
    INTERNAL = "internal", "Internal"
    SUPPLIER = "supplier", "Supplier (virtual)"
    CUSTOMER = "customer", "Customer (virtual)"
    INVENTORY_ADJUSTMENT = "adjustment", "Inventory loss/gain (virtual)"
    SCRAP = "scrap", "Scrap (virtual)"
    TRANSIT = "transit", "In transit (virtual)"


class LocationLevel(models.TextChoices):
    ZONE = "zone", "Zone"
    AISLE = "aisle", "Aisle"
    BIN = "bin", "Bin"
    AREA = "area", "Area"


class LocationQuerySet(models.QuerySet):
    def internal(self) -> LocationQuerySet:
        return self.filter(kind=LocationKind.INTERNAL)

    def virtual(self, kind: str, *, cached: bool = False) -> Location:
        """The virtual location of ``kind`` (one per kind, made by the first migration). Every
        outgoing posting names one, so it is read with plain SQL (``common.db``): the same row
        the ORM's ``get(kind=kind, warehouse__isnull=True)`` would give, without building it.

        ``cached=True`` (the posting path, ``stock.services.lines._virtual``): the row as read
        at most ``VIRTUAL_ROWS_TTL`` seconds ago by this process, from the same database (keyed
        by alias, database name and kind), as a new instance each time. A virtual location never
        changes kind or warehouse (catalog/freezing.py) and is never deleted once in the ledger;
        in this process any save or delete of a location without a warehouse and ``post_migrate``
        (a new or flushed test database) forget the rows (catalog/apps.py); a rename in the
        admin of another process shows here within the TTL."""
        if self.query.has_filters():
            return self.get(kind=kind, warehouse__isnull=True)
        key = (connection.alias, str(connection.settings_dict["NAME"]), kind)
        now = time.monotonic()
        if cached and (hit := _VIRTUAL_ROWS.get(key)) is not None and now - hit[0] < VIRTUAL_ROWS_TTL:
            return _LOCATION_ROWS.instance(hit[1])
        rows = fetch_rows(
            f"SELECT {_LOCATION_ROWS.columns('l')} FROM {connection.ops.quote_name(self.model._meta.db_table)} l "  # noqa: S608 - names from _meta
            "WHERE l.kind = %s AND l.warehouse_id IS NULL",
            [kind],
        )
        if not rows:
            raise self.model.DoesNotExist(f"No virtual location of kind {kind!r}.")
        if len(rows) > 1:
            raise self.model.MultipleObjectsReturned(f"{len(rows)} virtual locations of kind {kind!r}.")
        _VIRTUAL_ROWS[key] = (now, tuple(rows[0]))
        return _LOCATION_ROWS.instance(rows[0])


# ``LocationQuerySet.virtual(cached=True)``: (alias, database name, kind) -> (read at, row)
VIRTUAL_ROWS_TTL = 60.0
_VIRTUAL_ROWS: dict[tuple[str, str, str], tuple[float, tuple]] = {}


def virtual_rows_forget(*args: object, instance: object = None, **kwargs: object) -> None:
    """Forget the cached virtual-location rows: a receiver of ``post_migrate`` and of a
    location's ``post_save`` / ``post_delete`` (catalog/apps.py), where locations in a warehouse
    change nothing cached."""
    if getattr(instance, "warehouse_id", None) is None:
        _VIRTUAL_ROWS.clear()


class Location(models.Model):
    """A place stock can be. Internal locations form a tree per warehouse (zone > aisle > bin);
    virtual locations (supplier, customer, inventory loss/gain, scrap, in transit) have no
    warehouse and exist from the first migration, so every movement has two sides."""

    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="locations")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=12, choices=LocationKind.choices, default=LocationKind.INTERNAL)
    level = models.CharField(max_length=10, choices=LocationLevel.choices, default=LocationLevel.BIN)
    barcode = models.CharField(max_length=64, null=True, blank=True, unique=True)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    objects = LocationQuerySet.as_manager()

    class Meta:
        ordering = ["warehouse__code", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "code"],
                condition=Q(warehouse__isnull=False),
                name="location_code_unique_in_warehouse",
            ),
            models.UniqueConstraint(
                fields=["code"], condition=Q(warehouse__isnull=True), name="virtual_location_code_unique"
            ),
            models.CheckConstraint(
                condition=(Q(kind="internal") & Q(warehouse__isnull=False))
                | (~Q(kind="internal") & Q(warehouse__isnull=True)),
                name="location_internal_iff_in_warehouse",
            ),
        ]

    def __str__(self) -> str:
        if self.warehouse_id is None:
            return self.name or self.code
        return f"{self.warehouse.code}/{self.code}"

    @property
    def is_internal(self) -> bool:
        return self.kind == LocationKind.INTERNAL

    @property
    def home_warehouse(self) -> Warehouse:
        """The warehouse of an internal location. Only virtual locations have none, and asking
        for theirs is a programming error (callers check ``is_internal`` first)."""
        if self.warehouse is None:
            raise ValueError(f"{self.code} is a virtual location: it belongs to no warehouse.")
        return self.warehouse

    def clean(self) -> None:
        self.code = normalize_code(self.code).upper()
        self.barcode = normalize_code(self.barcode or "") or None
        errors: dict[str, str] = {}
        if self.kind == LocationKind.INTERNAL and not self.warehouse_id:
            errors["warehouse"] = "An internal location belongs to a warehouse."
        if self.kind != LocationKind.INTERNAL and self.warehouse_id:
            errors["warehouse"] = "Virtual locations belong to no warehouse."
        if self.parent_id:
            if self.parent.warehouse_id != self.warehouse_id:
                errors["parent"] = "The parent location must be in the same warehouse."
            node, seen = self.parent, {self.pk}
            while node is not None:
                if node.pk in seen:
                    errors["parent"] = "A location cannot be inside itself."
                    break
                seen.add(node.pk)
                node = node.parent
        if errors:
            raise ValidationError(errors)
        location_validate_frozen(self)  # warehouse and kind once it has stock or movements

    def descendant_ids(self) -> list[int]:
        """This location and everything under it (one query per tree level)."""
        ids, frontier = [self.pk], [self.pk]
        while frontier:
            frontier = list(Location.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
            ids.extend(frontier)
        return ids


_LOCATION_ROWS = ModelRows(Location)


class AccessChangeKind(models.TextChoices):
    GRANT = "grant", "granted"
    REVOKE = "revoke", "revoked"


class WarehouseAccessChange(models.Model):
    """One grant or revoke of one right in one warehouse, to one user or one group: the audit
    trail of ``catalog.access``. Append-only: written only by ``warehouse_access_grant`` and
    ``warehouse_access_revoke``, never changed or deleted (the admin is read-only).

    ``actor_name`` and ``grantee_name`` keep who did it and to whom as text, so the row still
    says so after a user or group is deleted (the foreign keys then become empty). The
    warehouse is protected: a warehouse with access history cannot be deleted."""

    at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=6, choices=AccessChangeKind.choices)
    permission = models.CharField(max_length=100, help_text="Codename of the right (catalog.Warehouse).")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="access_changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="warehouse_access_changes_made",
    )
    actor_name = models.CharField(max_length=150, help_text="Username of who changed it; '(system)' for none.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="warehouse_access_changes",
    )
    group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="warehouse_access_changes"
    )
    grantee_name = models.CharField(max_length=160, help_text="'user <username>' or 'group <name>'.")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "warehouse access change"
        indexes = [models.Index(fields=["warehouse", "at"], name="catalog_access_wh_at")]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.get_kind_display()} {self.permission} to {self.grantee_name}"

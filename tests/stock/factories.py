"""Test data for the stock tests: factory_boy factories for master data, and small readers
that take a snapshot of the ledger so a test can assert that a refused posting wrote nothing.

Import with ``from tests.stock.factories import ...`` (the project root is on ``sys.path``;
``tests`` is a namespace package, so no ``__init__.py`` is needed and no other ``factories``
module can shadow this one).

Stock itself is never built by a factory: quantities only come into being through
``stock.services`` (one write path, STYLE.md habit 2), so tests post receipts to get stock.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from factory.django import DjangoModelFactory

from catalog.models import (
    Item,
    ItemStatus,
    Location,
    LocationKind,
    LocationLevel,
    Tracking,
    UnitOfMeasure,
    ValuationMethod,
    Warehouse,
)
from stock.models import (
    ZERO,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Lot,
    Movement,
    Reservation,
    ReservationLine,
    StockLevel,
)

# The virtual locations of the data migration catalog/0002 (code, name, kind).
VIRTUAL_LOCATIONS = [
    ("SUPPLIER", "Suppliers", LocationKind.SUPPLIER),
    ("CUSTOMER", "Customers", LocationKind.CUSTOMER),
    ("INVENTORY-ADJ", "Inventory loss/gain", LocationKind.INVENTORY_ADJUSTMENT),
    ("SCRAP", "Scrap", LocationKind.SCRAP),
    ("TRANSIT", "In transit", LocationKind.TRANSIT),
]


def ensure_virtual_locations() -> dict[str, Location]:
    """The virtual locations keyed by kind (the plain string value), created if missing. The migration creates them, but
    a ``transactional_db`` test flushes every table when it ends, so later tests re-create them."""
    found = {}
    for code, name, kind in VIRTUAL_LOCATIONS:
        location, _ = Location.objects.get_or_create(
            warehouse=None, code=code, defaults={"name": name, "kind": kind, "level": LocationLevel.AREA}
        )
        found[str(kind.value)] = location
    return found


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"clerk{n}")
    # An unusable password: hashing a real one costs more than the rest of a test.
    password = factory.LazyFunction(lambda: make_password(None))


class UnitFactory(DjangoModelFactory):
    class Meta:
        model = UnitOfMeasure
        django_get_or_create = ("code",)

    code = "each"
    name = "Each"
    ratio = Decimal(1)


class WarehouseFactory(DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"WH{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    time_zone = "UTC"
    allow_negative_stock = False


class LocationFactory(DjangoModelFactory):
    """An internal bin in a warehouse (give ``parent`` for a sub-location)."""

    class Meta:
        model = Location

    warehouse = factory.SubFactory(WarehouseFactory)
    code = factory.Sequence(lambda n: f"BIN-{n:03d}")
    name = factory.LazyAttribute(lambda o: o.code)
    kind = LocationKind.INTERNAL
    level = LocationLevel.BIN


class ItemFactory(DjangoModelFactory):
    """An active, untracked, moving-average item in ``each``. Traits: ``fifo``, ``lot_tracked``
    (perishable, 30 days of shelf life), ``discontinued``."""

    class Meta:
        model = Item

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Item {o.sku}")
    base_unit = factory.SubFactory(UnitFactory)
    status = ItemStatus.ACTIVE
    tracking = Tracking.NONE
    perishable = False
    shelf_life_days = None
    standard_cost = ZERO
    valuation_method = ValuationMethod.MOVING_AVERAGE

    class Params:
        fifo = factory.Trait(valuation_method=ValuationMethod.FIFO)
        lot_tracked = factory.Trait(tracking=Tracking.LOT, perishable=True, shelf_life_days=30)
        discontinued = factory.Trait(
            status=ItemStatus.DISCONTINUED, discontinued_on=factory.LazyFunction(timezone.localdate)
        )


class LotFactory(DjangoModelFactory):
    """A lot of a lot-tracked item, expiring in 30 days unless told otherwise."""

    class Meta:
        model = Lot

    item = factory.SubFactory(ItemFactory, lot_tracked=True)
    code = factory.Sequence(lambda n: f"LOT-{n:03d}")
    expiry_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=30))
    received_on = factory.LazyFunction(timezone.localdate)


# --- Readers ----------------------------------------------------------------------------------


def level_of(item: Item, location: Location, lot: Lot | None = None) -> tuple[Decimal, Decimal]:
    """(on_hand, reserved) of one StockLevel, (0, 0) if the row does not exist."""
    row = StockLevel.objects.filter(item=item, location=location, lot=lot).values_list("on_hand", "reserved").first()
    return row if row is not None else (ZERO, ZERO)


def valuation_of(item: Item, warehouse: Warehouse) -> tuple[Decimal, Decimal]:
    """(quantity, value) of an item in a warehouse, (0, 0) if never valued."""
    row = ItemValuation.objects.filter(item=item, warehouse=warehouse).values_list("quantity", "value").first()
    return row if row is not None else (ZERO, ZERO)


def layers_of(item: Item, warehouse: Warehouse) -> list[tuple[Decimal, Decimal, Decimal]]:
    """The FIFO layers of an item in a warehouse, oldest first: (unit cost, remaining quantity,
    remaining value)."""
    return list(
        CostLayer.objects.filter(item=item, warehouse=warehouse)
        .order_by("received_at", "id")
        .values_list("unit_cost", "remaining_quantity", "remaining_value")
    )


def ledger_snapshot() -> dict[str, object]:
    """Everything a posting can write, in comparable form: row counts of the ledger tables and
    the values of every level, valuation, layer and reservation. ``assert ledger_snapshot() ==
    before`` proves that a refused operation left no trace (no row added, no value changed)."""
    return {
        "movements": Movement.objects.count(),
        "lots": Lot.objects.count(),
        "levels": sorted(
            StockLevel.objects.values_list("item_id", "location_id", "lot_id", "on_hand", "reserved"),
            key=lambda r: (r[0], r[1], r[2] or 0),
        ),
        "valuations": sorted(
            ItemValuation.objects.values_list("item_id", "warehouse_id", "quantity", "value", "last_unit_cost")
        ),
        "layers": sorted(CostLayer.objects.values_list("id", "remaining_quantity", "remaining_value")),
        "consumptions": CostLayerConsumption.objects.count(),
        "reservations": sorted(Reservation.objects.values_list("id", "consumed", "released", "status")),
        "reservation_lines": sorted(ReservationLine.objects.values_list("id", "quantity")),
    }

"""Demo master data of a small home & outdoor web shop, for demos and tries (``manage.py
seed_demo``, in ``stock``, adds opening stock and sales history on top).

Deterministic and idempotent: every row has a natural key (username, warehouse code, location
code, category path, SKU, barcode); a row that exists with the wanted values is left alone, a
missing one is created, one that differs is brought back to the wanted values (through the
services). A second run writes nothing: no row, no history record, no password hash.

``seed_demo()`` runs the steps of ``STEPS`` (or the ``steps`` given) in order, each in its own
transaction; ``stock.demo`` appends its steps (postings with idempotency keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import Model
from guardian.shortcuts import assign_perm, get_user_perms
from stdnum import ean

from catalog.models import (
    PATH_SEPARATOR,
    Barcode,
    BarcodeKind,
    Category,
    Item,
    Location,
    LocationKind,
    LocationLevel,
    Tracking,
    UnitOfMeasure,
    ValuationMethod,
    Warehouse,
)
from catalog.services import category_save, item_save
from common import roles

CHANGE_REASON = "seed_demo"

# --- Users ------------------------------------------------------------------------------------
# Demo passwords pass Django's default validators; printed by the run script, never used in
# production (the users exist only where this command ran).
DEMO_PASSWORDS: dict[str, str] = {
    "admin": "admin-demo-2026",
    "manager": "manager-demo-2026",
    "purchaser": "purchaser-demo-2026",
    "clerk": "clerk-demo-2026",
    "auditor": "auditor-demo-2026",
}


@dataclass(frozen=True)
class UserSpec:
    username: str
    role: str
    first_name: str
    last_name: str
    is_staff: bool = True
    is_superuser: bool = False


USERS = [
    UserSpec("admin", roles.ADMINISTRATOR, "Anna", "de Vries", is_superuser=True),
    UserSpec("manager", roles.INVENTORY_MANAGER, "Milan", "Jansen"),
    UserSpec("purchaser", roles.PURCHASING_MANAGER, "Priya", "Bakker"),
    UserSpec("clerk", roles.WAREHOUSE_CLERK, "Chris", "Visser", is_staff=False),
    UserSpec("auditor", roles.AUDITOR, "Aylin", "Smit"),
]
EMAIL_DOMAIN = "demo.homeandoutdoor.example"

# Warehouse-scoped object permissions (django-guardian), on top of the role's model permissions.
ALL_WAREHOUSE_PERMS = (
    "view_warehouse_stock",
    "post_warehouse_movements",
    "adjust_warehouse_stock",
    "approve_warehouse_adjustments",
    "receive_warehouse_purchases",
)
# Managers keep the bins of both warehouses; granting rights stays with the Administrator.
MANAGER_WAREHOUSE_PERMS = (*ALL_WAREHOUSE_PERMS, "manage_warehouse")
WAREHOUSE_ACCESS: dict[str, dict[str, tuple[str, ...]]] = {
    "manager": {"AMS": MANAGER_WAREHOUSE_PERMS, "RTM": MANAGER_WAREHOUSE_PERMS},
    "purchaser": {
        "AMS": ("view_warehouse_stock", "receive_warehouse_purchases"),
        "RTM": ("view_warehouse_stock", "receive_warehouse_purchases"),
    },
    # The clerk works in Amsterdam only: Rotterdam shows how warehouse scoping refuses.
    "clerk": {"AMS": ("view_warehouse_stock", "post_warehouse_movements", "receive_warehouse_purchases")},
    "auditor": {"AMS": ("view_warehouse_stock",), "RTM": ("view_warehouse_stock",)},
}

# --- Warehouses and their layout ----------------------------------------------------------------


@dataclass(frozen=True)
class WarehouseSpec:
    code: str
    name: str
    address: str
    zones: tuple[str, ...]
    aisles_per_zone: int
    bins_per_aisle: int
    areas: tuple[tuple[str, str], ...] = (("DOCK-IN", "Receiving dock"), ("PACK", "Packing station"))
    time_zone: str = "Europe/Amsterdam"


WAREHOUSES = [
    WarehouseSpec("AMS", "Amsterdam main DC", "Cateringweg 12\n1046 AV Amsterdam\nNetherlands", ("A", "B", "C"), 4, 6),
    WarehouseSpec("RTM", "Rotterdam city hub", "Vierhavensstraat 40\n3029 BE Rotterdam\nNetherlands", ("A", "B"), 3, 4),
]

# --- Categories and items ---------------------------------------------------------------------
CATEGORY_VALUATION = {
    "Food": ValuationMethod.FIFO,
    "Electronics > Batteries": ValuationMethod.FIFO,
    "Outdoor > Garden > Seeds": ValuationMethod.FIFO,
}

# A fictitious GS1 company prefix (871 = Netherlands): EAN-13 = prefix + 5-digit item number
# + check digit. The item number is the item's position in ``ITEMS``, so codes are stable.
GS1_COMPANY_PREFIX = "8719327"


@dataclass(frozen=True)
class Leaf:
    """Items of one leaf category; ``defaults`` apply to each item unless it overrides them."""

    path: str
    sku_prefix: str
    items: tuple[tuple[str, str] | tuple[str, str, dict[str, Any]], ...]
    defaults: dict[str, Any] = field(default_factory=dict)


def _variants(names: Iterable[tuple[str, str]], suffixes: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Every name with every suffix; the suffix's cost is added to the name's."""
    suffixes = list(suffixes)
    return tuple(
        (f"{name} {suffix}", str(Decimal(cost) + Decimal(extra))) for name, cost in names for suffix, extra in suffixes
    )


BOX12 = {"purchase_unit": "box12"}
FOOD = {"perishable": True, "tracking": Tracking.LOT}

LEAVES = [
    Leaf(
        "Home > Kitchen > Knives",
        "KNF",
        (
            ("Chef's knife 20 cm", "18.50"),
            ("Santoku knife 18 cm", "17.90"),
            ("Bread knife 23 cm", "14.20"),
            ("Paring knife 9 cm", "6.80"),
            ("Utility knife 13 cm", "8.40"),
            ("Carving knife 21 cm", "15.60"),
            ("Boning knife 15 cm", "12.30"),
            ("Steak knife set 4-piece", "16.75"),
            ("Knife block oak 6-slot", "21.00"),
            ("Honing steel 25 cm", "9.95"),
            ("Whetstone 1000/6000 grit", "13.40"),
        ),
    ),
    Leaf(
        "Home > Kitchen > Cookware",
        "CKW",
        (
            *_variants([("Frying pan", "11.20")], [("20 cm", "0"), ("24 cm", "2.60"), ("28 cm", "5.20")]),
            *_variants([("Saucepan with lid", "12.10")], [("16 cm", "0"), ("18 cm", "1.80"), ("20 cm", "3.60")]),
            ("Cast iron casserole 24 cm", "38.50"),
            ("Carbon steel wok 30 cm", "19.60"),
            ("Stockpot 8 l", "22.40"),
            ("Grill pan 26 cm", "18.30"),
        ),
    ),
    Leaf(
        "Home > Kitchen > Storage",
        "STO",
        (
            *_variants([("Glass food container", "2.35")], [("0.4 l", "0"), ("0.8 l", "0.55"), ("1.5 l", "1.45")]),
            ("Glass food container set 5-piece", "12.60"),
            ("Preserving jar 0.5 l", "1.45", BOX12),
            ("Preserving jar 1 l", "1.85", BOX12),
            ("Beeswax wraps set of 3", "4.70"),
            ("Bread bin bamboo", "14.90"),
        ),
    ),
    Leaf(
        "Home > Kitchen > Utensils",
        "UTN",
        (
            ("Silicone spatula", "2.10"),
            ("Slotted turner", "2.60"),
            ("Soup ladle", "2.90"),
            ("Balloon whisk 25 cm", "2.75"),
            ("Kitchen tongs 30 cm", "3.10"),
            ("Y-peeler", "1.95"),
            ("Box grater", "4.80"),
            ("Garlic press", "3.95"),
            ("Pizza cutter", "2.85"),
            ("Wooden spoon set 3-piece", "3.40"),
        ),
    ),
    Leaf(
        "Home > Bath > Towels",
        "TWL",
        _variants(
            [
                ("Bath towel 70x140", "7.80"),
                ("Hand towel 50x100", "4.10"),
                ("Guest towel 30x50", "1.90"),
                ("Bath sheet 100x150", "11.40"),
            ],
            [("white", "0"), ("sand", "0"), ("slate grey", "0")],
        ),
    ),
    Leaf(
        "Home > Decor > Candles",
        "CDL",
        (
            *_variants(
                [("Scented candle", "3.20")],
                [("vanilla 200 g", "0"), ("sea salt 200 g", "0"), ("fig 200 g", "0"), ("cedarwood 200 g", "0")],
            ),
            ("Pillar candle ivory 7x10 cm", "1.60"),
            ("Pillar candle ivory 7x15 cm", "2.10"),
            ("Tea lights unscented 50-pack", "3.40"),
            ("Dinner candles white 4-pack", "2.30"),
        ),
        BOX12,
    ),
    Leaf(
        "Electronics > Cables > USB",
        "USB",
        _variants(
            [
                ("USB-C to USB-C cable", "2.40"),
                ("USB-A to USB-C cable", "1.90"),
                ("USB-A to Micro-USB cable", "1.40"),
                ("USB-C to Lightning cable", "3.60"),
            ],
            [("0.5 m", "0"), ("1 m", "0.30"), ("2 m", "0.80")],
        ),
        BOX12,
    ),
    Leaf(
        "Electronics > Cables > HDMI",
        "HDM",
        (
            *_variants([("HDMI 2.0 cable", "2.10")], [("1 m", "0"), ("2 m", "0.50"), ("3 m", "1.10")]),
            *_variants([("HDMI 2.1 cable", "4.30")], [("1 m", "0"), ("2 m", "0.80")]),
            ("HDMI to DisplayPort adapter", "6.90"),
        ),
    ),
    Leaf(
        "Electronics > Batteries",
        "BAT",
        (
            ("AA alkaline batteries 4-pack", "1.60"),
            ("AA alkaline batteries 12-pack", "4.20"),
            ("AAA alkaline batteries 4-pack", "1.50"),
            ("AAA alkaline batteries 12-pack", "3.90"),
            ("9V alkaline battery", "1.70"),
            ("CR2032 coin cells 2-pack", "0.95"),
            ("AA rechargeable NiMH 4-pack", "6.80"),
            ("AAA rechargeable NiMH 4-pack", "5.90"),
        ),
        {**BOX12, "tracking": Tracking.LOT},
    ),
    Leaf(
        "Electronics > Lighting > LED bulbs",
        "LED",
        (
            ("LED bulb E27 806 lm warm white", "1.85"),
            ("LED bulb E27 806 lm cool white", "1.85"),
            ("LED bulb E27 1521 lm warm white", "3.10"),
            ("LED candle bulb E14 470 lm", "1.70"),
            ("LED spot GU10 345 lm", "1.55"),
            ("LED filament globe E27", "2.95"),
            ("Smart LED bulb E27 colour", "8.40"),
            ("LED strip 5 m with remote", "11.20", {"purchase_unit": None}),
        ),
        BOX12,
    ),
    Leaf(
        "Electronics > Power > Chargers",
        "CHG",
        (
            ("USB-C charger 20 W", "5.90"),
            ("USB-C charger 65 W GaN", "17.40"),
            ("Dual USB car charger", "4.20"),
            ("Power bank 10000 mAh", "11.80"),
            ("Power bank 20000 mAh", "17.90"),
            ("Wireless charging pad 15 W", "8.30"),
        ),
    ),
    Leaf(
        "Outdoor > Camping > Tents",
        "TNT",
        (
            ("Dome tent 2-person", "48.00"),
            ("Dome tent 3-person", "62.00"),
            ("Tunnel tent 4-person", "118.00"),
            ("Ultralight tent 1-person", "96.00"),
            ("Family tent 6-person", "189.00"),
            ("Beach shelter UV50", "27.50"),
            ("Tent footprint 2-person", "11.90"),
            ("Tent repair kit", "4.60"),
        ),
    ),
    Leaf(
        "Outdoor > Camping > Sleeping bags",
        "SLB",
        (
            ("Sleeping bag 3-season synthetic", "21.50"),
            ("Sleeping bag summer", "13.90"),
            ("Down sleeping bag -5 °C", "88.00"),
            ("Kids sleeping bag", "16.40"),
            ("Sleeping bag liner cotton", "6.20"),
            ("Self-inflating mat 3 cm", "18.70"),
        ),
    ),
    Leaf(
        "Outdoor > Camping > Camp kitchen",
        "CMK",
        (
            ("Compact gas stove", "14.30"),
            ("Gas cartridge 230 g", "2.10", BOX12),
            ("Titanium pot 750 ml", "15.80"),
            ("Cook set 2-person", "17.60"),
            ("Titanium spork", "3.40"),
            ("Insulated mug 350 ml", "4.90"),
            ("Collapsible water carrier 10 l", "5.70"),
            ("Camping cutlery set", "3.80"),
        ),
    ),
    Leaf(
        "Outdoor > Camping > Accessories",
        "CAC",
        (
            ("Headlamp 300 lm", "7.60"),
            ("Camping lantern LED", "8.90"),
            # Kept and sold by the metre, cut from 30 m reels.
            ("Paracord 4 mm", "0.18", {"base_unit": "m"}),
            # Stocked singly, sold by the dozen.
            ("Tent pegs aluminium", "0.22", {"sales_unit": "dozen"}),
            ("Carabiner 10 kN", "1.10"),
            ("Dry bag 20 l", "5.40"),
            ("Microfibre towel L", "5.90"),
            ("Emergency blanket", "0.85"),
        ),
    ),
    Leaf(
        "Outdoor > Hiking > Backpacks",
        "BPK",
        _variants(
            [
                ("Daypack 20 l", "14.60"),
                ("Hiking backpack 30 l", "24.80"),
                ("Trekking backpack 45 l", "38.50"),
                ("Trekking backpack 65 l", "52.00"),
            ],
            [("black", "0"), ("olive", "0")],
        ),
    ),
    Leaf(
        "Outdoor > Hiking > Socks",
        "SCK",
        _variants(
            [("Merino hiking socks", "5.20"), ("Trail running socks", "3.10")],
            [("36-39", "0"), ("40-43", "0"), ("44-47", "0")],
        ),
        # Kept in pairs; the supplier's box holds 12 pairs, not 12 pieces: an explicit factor.
        {"base_unit": "pair", "purchase_unit": "box12", "purchase_factor": "12"},
    ),
    Leaf(
        "Outdoor > Garden > Tools",
        "GTL",
        (
            ("Pruning shears", "9.80"),
            ("Hand trowel", "3.40"),
            ("Garden fork", "14.20"),
            ("Garden hose 25 m", "16.90"),
            ("Hose spray nozzle", "3.80"),
            ("Gardening gloves M", "2.10"),
            ("Gardening gloves L", "2.10"),
            ("Watering can 10 l", "5.60"),
        ),
    ),
    Leaf(
        "Outdoor > Garden > Seeds",
        "SED",
        (
            ("Cherry tomato seeds", "0.85"),
            ("Basil Genovese seeds", "0.85"),
            ("Butterhead lettuce seeds", "0.85"),
            ("Carrot Nantes seeds", "0.85"),
            ("Giant sunflower seeds", "0.85"),
            ("Courgette seeds", "0.85"),
            ("Radish seeds", "0.85"),
            ("Wildflower seed mix 100 g", "2.40"),
        ),
        {**BOX12, **FOOD, "shelf_life_days": 730},
    ),
    Leaf(
        "Food > Coffee",
        "COF",
        (
            *_variants(
                [
                    ("Espresso beans", "3.90"),
                    ("House blend beans", "3.40"),
                    ("Decaf beans", "4.10"),
                    ("Colombia Supremo beans", "4.60"),
                    ("Ethiopia Yirgacheffe beans", "5.20"),
                ],
                [("250 g", "0")],
            ),
            *(
                (name, cost, {"purchase_unit": None})
                for name, cost in _variants(
                    [
                        ("Espresso beans", "13.20"),
                        ("House blend beans", "11.60"),
                        ("Decaf beans", "14.00"),
                        ("Colombia Supremo beans", "15.80"),
                        ("Ethiopia Yirgacheffe beans", "17.90"),
                    ],
                    [("1 kg", "0")],
                )
            ),
            # Weighed out in the shop's refill station: kept in kg, sold in grams.
            ("Espresso beans loose", "12.40", {"base_unit": "kg", "sales_unit": "g", "purchase_unit": None}),
        ),
        {**BOX12, **FOOD, "shelf_life_days": 365},
    ),
    Leaf(
        "Food > Tea",
        "TEA",
        (
            ("Earl Grey tea 20 bags", "2.10"),
            ("English breakfast tea 20 bags", "1.90"),
            ("Green sencha tea 20 bags", "2.30"),
            ("Peppermint tea 20 bags", "1.70"),
            ("Rooibos tea 20 bags", "1.80"),
            ("Chamomile tea 20 bags", "1.70"),
            ("Chai loose leaf tea 100 g", "3.20"),
            ("Matcha powder 30 g", "6.90"),
        ),
        {**BOX12, **FOOD, "shelf_life_days": 540},
    ),
    Leaf(
        "Food > Snacks",
        "SNK",
        (
            ("Trail mix 200 g", "1.90"),
            ("Granola bar oat & honey", "0.45"),
            ("Dried mango 100 g", "1.60"),
            ("Roasted almonds 200 g", "2.70"),
            ("Dark chocolate 72% 100 g", "1.10"),
            ("Energy bar peanut", "0.60"),
            ("Rice crackers sea salt", "1.05"),
            ("Beef jerky 50 g", "1.95"),
            ("Banana chips 150 g", "1.20"),
            ("Protein bar chocolate", "0.85"),
        ),
        {**BOX12, **FOOD, "shelf_life_days": 240},
    ),
    Leaf(
        "Food > Outdoor meals",
        "MEL",
        (
            ("Freeze-dried chili con carne", "4.10"),
            ("Freeze-dried pasta bolognese", "4.10"),
            ("Freeze-dried vegetable curry", "3.90"),
            ("Freeze-dried beef stroganoff", "4.40"),
            ("Freeze-dried porridge with berries", "2.60"),
            ("Freeze-dried chicken tikka", "4.30"),
            ("Freeze-dried mac and cheese", "3.70"),
            ("Freeze-dried apple crumble", "3.20"),
        ),
        {**FOOD, "shelf_life_days": 1825},
    ),
]


@dataclass(frozen=True)
class ItemSpec:
    number: int
    sku: str
    name: str
    category_path: str
    standard_cost: Decimal
    base_unit: str = "each"
    purchase_unit: str | None = None
    purchase_factor: Decimal | None = None
    sales_unit: str | None = None
    sales_factor: Decimal | None = None
    tracking: str = Tracking.NONE
    perishable: bool = False
    shelf_life_days: int | None = None

    @property
    def ean13(self) -> str:
        stem = f"{GS1_COMPANY_PREFIX}{self.number:05d}"
        return stem + ean.calc_check_digit(stem)


def _item_specs() -> list[ItemSpec]:
    specs: list[ItemSpec] = []
    for leaf in LEAVES:
        for position, entry in enumerate(leaf.items, start=1):
            name, cost, overrides = entry if len(entry) == 3 else (*entry, {})
            values = {**leaf.defaults, **overrides}
            for decimal_field in ("purchase_factor", "sales_factor"):
                if values.get(decimal_field) is not None:
                    values[decimal_field] = Decimal(values[decimal_field])
            specs.append(
                ItemSpec(
                    number=len(specs) + 1,
                    sku=f"{leaf.sku_prefix}-{position:03d}",
                    name=name,
                    category_path=leaf.path,
                    standard_cost=Decimal(cost),
                    **values,
                )
            )
    return specs


ITEMS = _item_specs()


# --- The steps ----------------------------------------------------------------------------------


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def _stored(obj: Model, name: str) -> Any:
    """The stored value of a field; for a relation its key, so comparing loads nothing."""
    return getattr(obj, obj._meta.get_field(name).attname)


def _key(value: Any) -> Any:
    return value.pk if isinstance(value, Model) else value


def _converge(obj: Model, wanted: dict[str, Any], save: Callable[[Model], Any], tally: Tally) -> bool:
    """Create ``obj`` or bring it to ``wanted`` (relations given as objects) through ``save``;
    untouched when it already matches, so nothing (not even a history record) is written.
    True if it was saved."""
    if obj.pk is not None and all(_stored(obj, name) == _key(value) for name, value in wanted.items()):
        tally.unchanged += 1
        return False
    if obj.pk is None:
        tally.created += 1
    else:
        tally.updated += 1
    for name, value in wanted.items():
        setattr(obj, name, value)  # objects, not ids: validation then reads them without queries
    obj._change_reason = CHANGE_REASON
    save(obj)
    return True


def _model_save(obj: Model) -> None:
    obj.full_clean()
    obj.save()


def seed_users() -> Tally:
    """One user per role in the role's group; passwords from ``DEMO_PASSWORDS``."""
    User = get_user_model()
    tally = Tally()
    groups = {group.name: group for group in Group.objects.filter(name__in={spec.role for spec in USERS})}
    existing = {user.username: user for user in User.objects.filter(username__in=DEMO_PASSWORDS)}
    for spec in USERS:
        user = existing.get(spec.username) or User(username=spec.username)
        password = DEMO_PASSWORDS[spec.username]
        wanted = {
            "first_name": spec.first_name,
            "last_name": spec.last_name,
            "email": f"{spec.username}@{EMAIL_DOMAIN}",
            "is_staff": spec.is_staff,
            "is_superuser": spec.is_superuser,
            "is_active": True,
        }
        created = user.pk is None
        differs = created or any(getattr(user, name) != value for name, value in wanted.items())
        for name, value in wanted.items():
            setattr(user, name, value)
        password_ok = not created and user.check_password(password)
        if not password_ok:
            validate_password(password, user)
            user.set_password(password)
        if differs or not password_ok:
            user.save()
        in_role = not created and set(user.groups.values_list("name", flat=True)) == {spec.role}
        if not in_role:
            user.groups.set([groups[spec.role]])  # the role's group only
        if differs or not password_ok or not in_role:
            tally.created += created
            tally.updated += not created
        else:
            tally.unchanged += 1
    return tally


def seed_warehouses() -> Tally:
    tally = Tally()
    existing = {w.code: w for w in Warehouse.objects.filter(code__in=[spec.code for spec in WAREHOUSES])}
    for spec in WAREHOUSES:
        warehouse = existing.get(spec.code) or Warehouse(code=spec.code)
        wanted = {"name": spec.name, "address": spec.address, "time_zone": spec.time_zone, "active": True}
        _converge(warehouse, wanted, _model_save, tally)
    return tally


def _layout(spec: WarehouseSpec) -> list[tuple[str, str, str, str | None]]:
    """(code, name, level, parent code) of a warehouse's locations, parents first."""
    rows: list[tuple[str, str, str, str | None]] = [(code, name, LocationLevel.AREA, None) for code, name in spec.areas]
    for zone in spec.zones:
        rows.append((zone, f"Zone {zone}", LocationLevel.ZONE, None))
        for aisle in range(1, spec.aisles_per_zone + 1):
            aisle_code = f"{zone}-{aisle:02d}"
            rows.append((aisle_code, f"Aisle {aisle_code}", LocationLevel.AISLE, zone))
            for bin_ in range(1, spec.bins_per_aisle + 1):
                bin_code = f"{aisle_code}-{bin_:02d}"
                rows.append((bin_code, f"Bin {bin_code}", LocationLevel.BIN, aisle_code))
    return rows


def seed_locations() -> Tally:
    """Zones > aisles > bins (and the dock areas) of each warehouse; every location has a
    unique scannable barcode ``LOC-<warehouse>-<code>``."""
    tally = Tally()
    for spec in WAREHOUSES:
        warehouse = Warehouse.objects.get(code=spec.code)
        existing = {location.code: location for location in Location.objects.filter(warehouse=warehouse)}
        for code, name, level, parent_code in _layout(spec):
            location = existing.get(code) or Location(warehouse=warehouse, code=code)
            wanted = {
                "name": name,
                "kind": LocationKind.INTERNAL,
                "level": level,
                "parent": existing[parent_code] if parent_code else None,
                "barcode": f"LOC-{spec.code}-{code}",
                "active": True,
            }
            _converge(location, wanted, _model_save, tally)
            existing[code] = location
    return tally


def seed_warehouse_permissions() -> Tally:
    """Object permissions of ``WAREHOUSE_ACCESS``; only adds (a manager may have granted more)."""
    User = get_user_model()
    tally = Tally()
    warehouses = {w.code: w for w in Warehouse.objects.all()}
    for username, grants in WAREHOUSE_ACCESS.items():
        user = User.objects.get(username=username)
        for code, perms in grants.items():
            warehouse = warehouses[code]
            has = set(get_user_perms(user, warehouse))
            for perm in perms:
                if perm in has:
                    tally.unchanged += 1
                else:
                    assign_perm(perm, user, warehouse)
                    tally.created += 1
    return tally


def seed_categories() -> Tally:
    """Every category on the path of a leaf, parents first, saved through ``category_save``."""
    tally = Tally()
    existing = {(c.parent_id, c.name.lower()): c for c in Category.objects.all()}
    by_path: dict[str, Category] = {}
    paths = dict.fromkeys(
        PATH_SEPARATOR.join(parts[:depth])
        for parts in (leaf.path.split(PATH_SEPARATOR) for leaf in LEAVES)
        for depth in range(1, len(parts) + 1)
    )
    for path in paths:
        parent_path, _, name = path.rpartition(PATH_SEPARATOR)
        parent = by_path[parent_path] if parent_path else None
        category = existing.get((parent.pk if parent else None, name.lower())) or Category(name=name, parent=parent)
        wanted = {"name": name, "valuation_method": CATEGORY_VALUATION.get(path, "")}
        _converge(category, wanted, lambda c: category_save(category=c), tally)
        by_path[path] = category
    return tally


def seed_items() -> Tally:
    """The items of ``ITEMS``, saved through ``item_save`` (which sets the valuation method from
    the category on creation)."""
    tally = Tally()
    units = {unit.code: unit for unit in UnitOfMeasure.objects.all()}
    # Parents loaded with each category: the valuation default walks up without queries.
    categories = {c.path: c for c in Category.objects.select_related("parent__parent__parent__parent")}
    existing = {item.sku.lower(): item for item in Item.objects.filter(sku__in=[spec.sku for spec in ITEMS])}
    for spec in ITEMS:
        item = existing.get(spec.sku.lower()) or Item(sku=spec.sku)
        wanted = {
            "sku": spec.sku,
            "name": spec.name,
            "category": categories[spec.category_path],
            "base_unit": units[spec.base_unit],
            "purchase_unit": units[spec.purchase_unit] if spec.purchase_unit else None,
            "purchase_factor": spec.purchase_factor,
            "sales_unit": units[spec.sales_unit] if spec.sales_unit else None,
            "sales_factor": spec.sales_factor,
            "tracking": spec.tracking,
            "perishable": spec.perishable,
            "shelf_life_days": spec.shelf_life_days,
            "standard_cost": spec.standard_cost,
        }
        _converge(item, wanted, lambda i: item_save(item=i), tally)
    return tally


def seed_barcodes() -> Tally:
    """One EAN-13 per item (``ItemSpec.ean13``); an item's other barcodes are left alone."""
    tally = Tally()
    items = {item.sku: item for item in Item.objects.filter(sku__in=[spec.sku for spec in ITEMS])}
    existing = {b.code: b for b in Barcode.objects.filter(code__in=[spec.ean13 for spec in ITEMS])}
    for spec in ITEMS:
        barcode = existing.get(spec.ean13) or Barcode(code=spec.ean13)
        wanted = {"item": items[spec.sku], "kind": BarcodeKind.GTIN}
        _converge(barcode, wanted, _model_save, tally)
    return tally


# Each step runs in its own transaction; append further steps (opening stock) here.
STEPS: list[tuple[str, Callable[[], Tally]]] = [
    ("users", seed_users),
    ("warehouses", seed_warehouses),
    ("locations", seed_locations),
    ("warehouse permissions", seed_warehouse_permissions),
    ("categories", seed_categories),
    ("items", seed_items),
    ("barcodes", seed_barcodes),
]


def seed_demo(
    stdout: TextIO | None = None, steps: list[tuple[str, Callable[[], Tally]]] | None = None
) -> dict[str, dict[str, int]]:
    """Create or converge the demo data; return created/updated/unchanged counts per step and,
    with ``stdout``, write a summary there."""
    report: dict[str, dict[str, int]] = {}
    for name, step in STEPS if steps is None else steps:
        with transaction.atomic():
            report[name] = step().as_dict()
    if stdout is not None:
        _write_summary(stdout, report)
    return report


def _write_summary(stdout: TextIO, report: dict[str, dict[str, int]]) -> None:
    width = max(len(name) for name in report)
    stdout.write(f"{'demo data':<{width}}  created  updated  unchanged\n")
    for name, counts in report.items():
        stdout.write(f"{name:<{width}}  {counts['created']:>7}  {counts['updated']:>7}  {counts['unchanged']:>9}\n")
    written = sum(counts["created"] + counts["updated"] for counts in report.values())
    stdout.write("Nothing to do: the demo data was already in place.\n" if not written else "Demo data ready.\n")
    stdout.write("Users (passwords in DEMO_PASSWORDS of catalog/demo.py):\n")
    for spec in USERS:
        flags = ", superuser" if spec.is_superuser else ("" if spec.is_staff else ", no admin access")
        stdout.write(f"  {spec.username:<10} {spec.role}{flags}\n")

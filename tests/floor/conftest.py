"""The world of the clerk-page tests (tests/floor/*), shaped like the demo business.

- warehouses ``AMS`` (Amsterdam main DC) and ``RTM`` (Rotterdam city hub);
- bins ``A-01-01``, ``A-01-02``, ``A-01-03`` and area ``DOCK-IN`` in AMS, ``A-01-01`` in RTM,
  each with the demo's barcode ``LOC-<warehouse>-<code>``;
- items: ``KNF-0001`` Chef's knife (EAN-13 ``KNIFE_EAN``, cost 18.50), ``CDL-0001`` scented
  candle (cost 3.20), ``FOD-0001`` coffee beans (lot-tracked, perishable, 365 days shelf life,
  cost 12.00);
- users with their demo roles and warehouse grants: ``clerk`` (Warehouse clerk: view, post,
  receive in AMS only), ``manager`` (Inventory manager: everything in AMS and RTM),
  ``auditor`` (Auditor: views every warehouse, posts nothing); passwords ``<name>-demo-2026``;
- opening stock (posted through the services by the system): 12 knives in A-01-01; coffee lot
  ``L-EARLY`` (expires in 5 days) 3 in A-01-03, lot ``L-LATE`` (expires in 40 days) 5 in A-01-02;
  30 candles in A-01-02.

Role groups, virtual locations and the unit come from the data migrations; the browser tests run
on a transactional database that is flushed after each test, so ``build_world`` re-creates
whichever of them is missing.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm
from stdnum import ean

from catalog.models import Barcode, Item, Location, LocationLevel, Tracking, UnitOfMeasure, Warehouse
from catalog.permissions import WarehouseAction
from common import roles
from stock import services
from stock.models import Lot
from tests.stock.factories import ensure_virtual_locations

KNIFE_EAN = "8719327000014"
assert ean.is_valid(KNIFE_EAN)
CANDLE_EAN = "8719327000021"
assert ean.is_valid(CANDLE_EAN)
COFFEE_EAN = "8719327000038"
assert ean.is_valid(COFFEE_EAN)


@dataclass
class World:
    ams: Warehouse
    rtm: Warehouse
    bins: dict[str, Location]
    rtm_bin: Location
    knife: Item
    candle: Item
    coffee: Item
    early: Lot
    late: Lot
    users: dict[str, User] = field(default_factory=dict)

    @property
    def clerk(self) -> User:
        return self.users["clerk"]

    @property
    def manager(self) -> User:
        return self.users["manager"]

    @property
    def auditor(self) -> User:
        return self.users["auditor"]


def _user(username: str, role: str, first: str, last: str, *, staff: bool) -> User:
    user = User.objects.create(username=username, first_name=first, last_name=last, is_staff=staff)
    user.set_password(f"{username}-demo-2026")
    user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=role))
    return user


def ensure_role_groups() -> None:
    """The role groups with their model permissions, as the data migrations make them
    (``common.roles``); a flushed transactional database has lost them."""
    for role, spec in roles.ROLE_SPECS.items():
        group, created = Group.objects.get_or_create(name=role)
        if not created and group.permissions.exists():
            continue
        wanted = []
        for perm in Permission.objects.select_related("content_type"):
            action = perm.codename.partition("_")[0]
            content_type = perm.content_type
            allowed = roles._allowed(spec, content_type.app_label, content_type.model)
            is_model_perm = perm.codename == f"{action}_{content_type.model}"
            if (is_model_perm and action in allowed) or perm.codename in roles.GLOBAL_WAREHOUSE_ACTIONS.get(role, ()):
                wanted.append(perm)
        group.permissions.add(*wanted)


def build_world() -> World:
    ensure_virtual_locations()
    ensure_role_groups()
    each, _ = UnitOfMeasure.objects.get_or_create(code="each", defaults={"name": "Each", "ratio": Decimal(1)})
    ams = Warehouse.objects.create(code="AMS", name="Amsterdam main DC", time_zone="Europe/Amsterdam")
    rtm = Warehouse.objects.create(code="RTM", name="Rotterdam city hub", time_zone="Europe/Amsterdam")
    bins = {}
    for code, level in (
        ("A-01-01", LocationLevel.BIN),
        ("A-01-02", LocationLevel.BIN),
        ("A-01-03", LocationLevel.BIN),
        ("DOCK-IN", LocationLevel.AREA),
    ):
        bins[code] = Location.objects.create(
            warehouse=ams, code=code, name=f"Bin {code}", level=level, barcode=f"LOC-AMS-{code}"
        )
    rtm_bin = Location.objects.create(warehouse=rtm, code="A-01-01", name="Bin A-01-01", barcode="LOC-RTM-A-01-01")
    knife = Item.objects.create(
        sku="KNF-0001", name="Chef's knife 20 cm", base_unit=each, standard_cost=Decimal("18.50")
    )
    candle = Item.objects.create(
        sku="CDL-0001", name="Scented candle vanilla 200 g", base_unit=each, standard_cost=Decimal("3.20")
    )
    coffee = Item.objects.create(
        sku="FOD-0001",
        name="Organic coffee beans 1 kg",
        base_unit=each,
        standard_cost=Decimal("12.00"),
        tracking=Tracking.LOT,
        perishable=True,
        shelf_life_days=365,
    )
    for item, code in ((knife, KNIFE_EAN), (candle, CANDLE_EAN), (coffee, COFFEE_EAN)):
        Barcode.objects.create(item=item, code=code)
    today = timezone.localdate()
    services.stock_receive(item=knife, location=bins["A-01-01"], quantity=Decimal(12), actor=None)
    services.stock_receive(item=candle, location=bins["A-01-02"], quantity=Decimal(30), actor=None)
    services.stock_receive(
        item=coffee,
        location=bins["A-01-03"],
        quantity=Decimal(3),
        lot="L-EARLY",
        expiry_date=today + timedelta(5),
        actor=None,
    )
    services.stock_receive(
        item=coffee,
        location=bins["A-01-02"],
        quantity=Decimal(5),
        lot="L-LATE",
        expiry_date=today + timedelta(40),
        actor=None,
    )
    world = World(
        ams=ams,
        rtm=rtm,
        bins=bins,
        rtm_bin=rtm_bin,
        knife=knife,
        candle=candle,
        coffee=coffee,
        early=Lot.objects.get(item=coffee, code="L-EARLY"),
        late=Lot.objects.get(item=coffee, code="L-LATE"),
    )
    world.users["clerk"] = clerk = _user("clerk", roles.WAREHOUSE_CLERK, "Chris", "Visser", staff=False)
    for action in (WarehouseAction.VIEW, WarehouseAction.POST, WarehouseAction.RECEIVE_PURCHASES):
        assign_perm(f"catalog.{action}", clerk, ams)
    world.users["manager"] = manager = _user("manager", roles.INVENTORY_MANAGER, "Milan", "Jansen", staff=True)
    for warehouse in (ams, rtm):
        for action in WarehouseAction.ALL:
            assign_perm(f"catalog.{action}", manager, warehouse)
    world.users["auditor"] = _user("auditor", roles.AUDITOR, "Aylin", "Smit", staff=True)
    return world


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture
def clerk_client(world: World) -> Client:
    """A client signed in as the clerk, with AMS chosen (the clerk's only warehouse)."""
    return signed_in(world.clerk, world.ams)


_HIDDEN = re.compile(r'<input type="hidden" name="(key|s_[a-z_]+)" value="([^"]*)">')


class Scanner:
    """Drives one job page like a scanner with the Django test client: ``scan(text)`` sends what
    the page's form would send (its hidden fields, the idempotency key, the scan) and follows
    the redirect; ``html`` is the page now shown."""

    def __init__(self, client: Client, slug: str) -> None:
        self.client, self.url = client, f"/floor/{slug}/"
        self.response = client.get(self.url)
        self.fields = self._fields()

    @property
    def html(self) -> str:
        return self.response.content.decode()

    def _fields(self) -> dict[str, str]:
        return {name: html.unescape(value) for name, value in _HIDDEN.findall(self.html)}

    def scan(self, text: str = "", **extra: str) -> Scanner:
        self.last_post = {**self.fields, "scan": text, **extra}
        self.response = self.client.post(self.url, self.last_post, follow=True)
        self.fields = self._fields()
        return self

    def resend(self) -> Scanner:
        """The last form sent again (a double tap, or the browser re-sending it)."""
        self.response = self.client.post(self.url, self.last_post, follow=True)
        return self

    @property
    def errors(self) -> list[str]:
        found = re.findall(r'<div class="alert alert-error" role="alert">(.*?)</div>', self.html, re.S)
        return [_text(m) for m in found]

    @property
    def notes(self) -> list[str]:
        found = re.findall(r'<div class="alert alert-info">(.*?)</div>', self.html, re.S)
        return [_text(m) for m in found]

    @property
    def result(self) -> str:
        found = re.search(r'<div class="result[^"]*" role="status" id="result">(.*?)</div>', self.html, re.S)
        return _text(found.group(1)) if found else ""

    @property
    def prompt(self) -> str:
        found = re.search(r'<label for="scan" class="prompt">(.*?)</label>', self.html, re.S)
        return _text(found.group(1)) if found else ""


def _text(fragment: str) -> str:
    inline = re.sub(r"</?span[^>]*>", "", fragment)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


@pytest.fixture
def scanner(clerk_client: Client):
    """``scanner(slug)``: a Scanner on that job as the clerk; ``scanner(slug, client)`` as another."""

    def start(slug: str, client: Client | None = None) -> Scanner:
        return Scanner(client or clerk_client, slug)

    return start


def signed_in(user: User, warehouse: Warehouse) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    session["floor_warehouse"] = warehouse.pk
    session.save()
    return client

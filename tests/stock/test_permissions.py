"""Who may do what where: every role x (own warehouse, other warehouse) x every ledger action,
through the services and through the admin; a denied action writes nothing; another
warehouse's objects by id are a 404.

Roles are the groups of common/roles.py. Warehouse A is "own": the scoped roles hold
their object permissions (django-guardian) there; B is "other". Administrators and Auditors
hold global grants (every warehouse)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from guardian.shortcuts import assign_perm

from catalog.models import Item, Location, UnitOfMeasure, Warehouse
from catalog.permissions import WarehouseAction, WarehousePermissionDenied
from common import roles
from stock import services
from stock.models import Movement, Reservation, StockLevel
from tests.stock.factories import ledger_snapshot

pytestmark = pytest.mark.django_db

# Object permissions each scoped role holds on its own warehouse (as in the demo data).
SCOPED = {
    roles.INVENTORY_MANAGER: WarehouseAction.ALL,
    roles.PURCHASING_MANAGER: (WarehouseAction.VIEW, WarehouseAction.RECEIVE_PURCHASES),
    roles.WAREHOUSE_CLERK: (WarehouseAction.VIEW, WarehouseAction.POST, WarehouseAction.RECEIVE_PURCHASES),
}
POSTING = {
    roles.ADMINISTRATOR: (True, True),
    roles.INVENTORY_MANAGER: (True, False),
    roles.PURCHASING_MANAGER: (False, False),
    roles.WAREHOUSE_CLERK: (True, False),
    roles.AUDITOR: (False, False),
}
ADJUSTING = {
    roles.ADMINISTRATOR: (True, True),
    roles.INVENTORY_MANAGER: (True, False),
    roles.PURCHASING_MANAGER: (False, False),
    roles.WAREHOUSE_CLERK: (False, False),
    roles.AUDITOR: (False, False),
}

# action name -> (expectation table, function(user, world, warehouse_code) performing it)
ACTIONS = {
    "receive": (
        POSTING,
        lambda u, w, c: services.stock_receive(
            item=w["item"], location=w[c]["bin1"], quantity=Decimal(1), unit_cost=Decimal(1), actor=u
        ),
    ),
    "issue": (
        POSTING,
        lambda u, w, c: services.stock_issue(item=w["item"], location=w[c]["bin1"], quantity=Decimal(1), actor=u),
    ),
    "issue_fefo": (
        POSTING,
        lambda u, w, c: services.stock_issue(item=w["item"], warehouse=w[c]["warehouse"], quantity=Decimal(1), actor=u),
    ),
    "transfer": (
        POSTING,
        lambda u, w, c: services.stock_transfer(
            item=w["item"], source=w[c]["bin1"], destination=w[c]["bin2"], quantity=Decimal(1), actor=u
        ),
    ),
    "scrap": (
        POSTING,
        lambda u, w, c: services.stock_scrap(
            item=w["item"], location=w[c]["bin1"], quantity=Decimal(1), reason_code="damaged", actor=u
        ),
    ),
    "adjust": (
        ADJUSTING,
        lambda u, w, c: services.stock_adjust(
            item=w["item"], location=w[c]["bin1"], quantity_delta=Decimal(-1), reason_code="count", actor=u
        ),
    ),
    "reverse": (
        ADJUSTING,
        lambda u, w, c: services.movement_reverse(movement=w[c]["receipt"], reason="wrong item", actor=u),
    ),
    "reserve": (
        POSTING,
        lambda u, w, c: services.reservation_create(
            item=w["item"], warehouse=w[c]["warehouse"], quantity=Decimal(1), actor=u
        ),
    ),
    "release": (POSTING, lambda u, w, c: services.reservation_release(reservation=w[c]["reservation"], actor=u)),
    "consume": (POSTING, lambda u, w, c: services.reservation_consume(reservation=w[c]["reservation"], actor=u)),
}


def _user(role: str, own: Warehouse) -> User:
    user = User.objects.create_user(
        role.lower().replace(" ", "_"), password="pw-for-tests-123", is_staff=role != roles.WAREHOUSE_CLERK
    )
    user.groups.add(Group.objects.get(name=role))
    for action in SCOPED.get(role, ()):
        assign_perm(f"catalog.{action}", user, own)
    return user


@pytest.fixture
def world() -> dict:
    each = UnitOfMeasure.objects.get(code="each")
    item = Item.objects.create(sku="PERM-1", name="Permission probe", base_unit=each, valuation_method="average")
    world: dict = {"item": item}
    for code in ("A", "B"):
        warehouse = Warehouse.objects.create(code=code, name=f"Warehouse {code}")
        bin1 = Location.objects.create(warehouse=warehouse, code="BIN-1", barcode=f"LOC-{code}-1")
        bin2 = Location.objects.create(warehouse=warehouse, code="BIN-2", barcode=f"LOC-{code}-2")
        services.stock_receive(item=item, location=bin1, quantity=Decimal(10), unit_cost=Decimal(2), actor=None)
        receipt = services.stock_receive(
            item=item, location=bin1, quantity=Decimal(20), unit_cost=Decimal(2), actor=None
        )
        reservation = services.reservation_create(item=item, warehouse=warehouse, quantity=Decimal(2), actor=None)
        world[code] = {
            "warehouse": warehouse,
            "bin1": bin1,
            "bin2": bin2,
            "receipt": receipt,
            "reservation": reservation,
        }
    world["users"] = {role: _user(role, world["A"]["warehouse"]) for role in roles.ROLE_SPECS}
    return world


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", list(roles.ROLE_SPECS))
@pytest.mark.parametrize("where", ["A", "B"])
def test_service_permission_matrix(world, action, role, where):
    expectations, perform = ACTIONS[action]
    allowed = expectations[role][0 if where == "A" else 1]
    user = world["users"][role]
    before = ledger_snapshot()
    reservations_before = list(Reservation.objects.order_by("pk").values())

    if allowed:
        perform(user, world, where)
        assert ledger_snapshot() != before or list(Reservation.objects.order_by("pk").values()) != reservations_before
    else:
        with pytest.raises(WarehousePermissionDenied):
            perform(user, world, where)
        assert ledger_snapshot() == before  # nothing written: no movement, level, valuation, layer
        assert list(Reservation.objects.order_by("pk").values()) == reservations_before


@pytest.mark.parametrize("role", list(roles.ROLE_SPECS))
@pytest.mark.parametrize("where", ["A", "B"])
def test_a_shipment_arrives_only_for_who_may_post_where_it_arrives(world, role, where):
    other = "B" if where == "A" else "A"
    shipment = services.transfer_ship(
        item=world["item"],
        quantity=Decimal(3),
        source=world[other]["bin1"],
        to_warehouse=world[where]["warehouse"],
        actor=None,
    )
    allowed = POSTING[role][0 if where == "A" else 1]  # "post" in the arrival's warehouse, as any posting
    user = world["users"][role]
    before = ledger_snapshot()

    if allowed:
        arrival = services.transfer_arrive(shipment=shipment, destination=world[where]["bin2"], actor=user)
        assert (arrival.quantity, arrival.destination) == (Decimal(3), world[where]["bin2"])
    else:
        with pytest.raises(WarehousePermissionDenied):
            services.transfer_arrive(shipment=shipment, destination=world[where]["bin2"], actor=user)
        assert ledger_snapshot() == before  # nothing written, the 3 still in transit
        assert services.shipment_arrived_quantity(shipment) == 0


def test_a_denied_receipt_of_a_new_lot_leaves_no_lot_behind(world):
    lot_item = Item.objects.create(
        sku="LOT-P",
        name="Lot probe",
        base_unit=UnitOfMeasure.objects.get(code="each"),
        tracking="lot",
        valuation_method="average",
    )
    clerk = world["users"][roles.WAREHOUSE_CLERK]
    with pytest.raises(WarehousePermissionDenied, match="in warehouse B"):
        services.stock_receive(
            item=lot_item, location=world["B"]["bin1"], quantity=Decimal(1), lot="NEW-LOT", actor=clerk
        )
    assert not lot_item.lots.exists()


def test_the_refusal_says_who_may_not_do_what_where(world):
    with pytest.raises(WarehousePermissionDenied) as refused:
        services.stock_adjust(
            item=world["item"],
            location=world["A"]["bin1"],
            quantity_delta=Decimal(1),
            reason_code="found",
            actor=world["users"][roles.WAREHOUSE_CLERK],
        )
    assert str(refused.value) == "warehouse_clerk may not adjust stock in warehouse A."


def test_inactive_users_may_do_nothing(world):
    admin = world["users"][roles.ADMINISTRATOR]
    admin.is_active = False
    admin.save()
    with pytest.raises(WarehousePermissionDenied):
        services.stock_receive(item=world["item"], location=world["A"]["bin1"], quantity=Decimal(1), actor=admin)


# --- The admin: what each role sees, and ids of the other warehouse ----------------------------


def _movement_ids(client) -> set[int]:
    page = client.get(reverse("admin:stock_movement_changelist"))
    assert page.status_code == 200
    return {m.pk for m in page.context["cl"].result_list}


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        (roles.ADMINISTRATOR, {"A", "B"}),
        (roles.INVENTORY_MANAGER, {"A"}),
        (roles.PURCHASING_MANAGER, {"A"}),
        (roles.AUDITOR, {"A", "B"}),
    ],
)
def test_admin_movement_list_shows_only_permitted_warehouses(client, world, role, sees):
    client.force_login(world["users"][role])
    expected = set(Movement.objects.filter(destination__warehouse__code__in=sees).values_list("pk", flat=True))
    assert _movement_ids(client) == expected


def test_clerks_have_no_admin_access(client, world):
    client.force_login(world["users"][roles.WAREHOUSE_CLERK])
    assert client.get(reverse("admin:stock_movement_changelist")).status_code == 302


@pytest.mark.parametrize("role", [roles.INVENTORY_MANAGER, roles.PURCHASING_MANAGER])
def test_guessing_ids_of_the_other_warehouse_answers_404(client, world, role):
    client.force_login(world["users"][role])
    b = world["B"]
    level = StockLevel.objects.get(location=b["bin1"])
    urls = [
        reverse("admin:stock_movement_change", args=[b["receipt"].pk]),
        reverse("admin:stock_movement_reverse", args=[b["receipt"].pk]),
        reverse("admin:stock_stocklevel_change", args=[level.pk]),
        reverse("admin:stock_reservation_change", args=[b["reservation"].pk]),
        reverse("admin:catalog_warehouse_change", args=[b["warehouse"].pk]),
        reverse("admin:catalog_location_change", args=[b["bin1"].pk]),
        reverse("admin:catalog_location_history", args=[b["bin1"].pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert b"LOC-B-1" not in response.content and b"Warehouse B" not in response.content
    own = client.get(reverse("admin:stock_movement_change", args=[world["A"]["receipt"].pk]))
    assert own.status_code == 200


def test_admin_lists_and_filters_offer_only_permitted_warehouses(client, world):
    client.force_login(world["users"][roles.INVENTORY_MANAGER])
    levels = client.get(reverse("admin:stock_stocklevel_changelist"))
    assert {lvl.location.warehouse.code for lvl in levels.context["cl"].result_list} == {"A"}
    assert b"Warehouse B" not in levels.content
    warehouses = client.get(reverse("admin:catalog_warehouse_changelist"))
    assert [w.code for w in warehouses.context["cl"].result_list] == ["A"]
    autocomplete = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "catalog", "model_name": "location", "field_name": "parent", "term": "BIN"},
    )
    assert autocomplete.status_code == 200
    assert {r["text"] for r in autocomplete.json()["results"]} == {"A/BIN-1", "A/BIN-2"}


def test_auditor_reads_everything_and_changes_nothing(client, world):
    auditor = world["users"][roles.AUDITOR]
    client.force_login(auditor)
    assert _movement_ids(client) == set(Movement.objects.values_list("pk", flat=True))
    assert (
        client.post(
            reverse("admin:catalog_item_change", args=[world["item"].pk]), {"sku": "HACKED", "name": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("admin:stock_movement_reverse", args=[world["A"]["receipt"].pk]), {"confirm": "yes", "reason": "x"}
        ).status_code
        == 403
    )
    assert Item.objects.get(pk=world["item"].pk).sku == "PERM-1"
    assert not Movement.objects.filter(reverses__isnull=False).exists()

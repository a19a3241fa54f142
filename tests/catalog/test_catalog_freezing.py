"""What freezes once the ledger depends on it (catalog.freezing; issue 12, finding 2).

The world: warehouses AMS and RTM; in AMS a bin A-01 holding 321 of HDL-001 (received at 2.00),
an empty bin A-02, a zone Z with a bin Z-01 holding 5 of HDL-001; in RTM an empty bin R-01.
``manager`` is an Inventory manager who may view and manage AMS and only view RTM.
Every refusal is checked for its message and for the absence of damage: nothing saved, the
ledger snapshot and ``reconcile()`` unchanged.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import assign_perm

from catalog.importing.locations import LocationWriter, parse_location_row
from catalog.models import Item, Location, LocationKind, Tracking, UnitOfMeasure, ValuationMethod, Warehouse
from catalog.permissions import WarehouseAction, WarehousePermissionDenied
from catalog.services import item_save, location_save, warehouse_save
from common.roles import INVENTORY_MANAGER
from purchasing.models import PurchaseOrder, PurchaseOrderLine, Supplier
from stock.reconciliation import reconcile
from stock.services import stock_issue, stock_receive
from tests.stock.factories import (
    ItemFactory,
    LocationFactory,
    UnitFactory,
    UserFactory,
    WarehouseFactory,
    ensure_virtual_locations,
    ledger_snapshot,
)

pytestmark = pytest.mark.django_db
TRANSFER = "has stock or movements: move its contents with a transfer instead."


@pytest.fixture
def world(db) -> dict:
    ensure_virtual_locations()
    system = UserFactory(username="system", is_superuser=True, is_staff=True)
    ams = WarehouseFactory(code="AMS")
    rtm = WarehouseFactory(code="RTM")
    a01 = LocationFactory(warehouse=ams, code="A-01")
    a02 = LocationFactory(warehouse=ams, code="A-02")
    zone = LocationFactory(warehouse=ams, code="Z", level="zone")
    z01 = LocationFactory(warehouse=ams, code="Z-01", parent=zone)
    r01 = LocationFactory(warehouse=rtm, code="R-01")
    item = ItemFactory(sku="HDL-001", name="Headlamp")
    stock_receive(item=item, location=a01, quantity=Decimal(321), unit_cost=Decimal(2), actor=system)
    stock_receive(item=item, location=z01, quantity=Decimal(5), unit_cost=Decimal(2), actor=system)
    manager = UserFactory(username="ams-manager", is_staff=True)
    manager.groups.add(Group.objects.get(name=INVENTORY_MANAGER))
    for action in (WarehouseAction.VIEW, WarehouseAction.MANAGE):
        assign_perm(action, manager, ams)
    assign_perm(WarehouseAction.VIEW, manager, rtm)
    return locals()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _location_form(location: Location, **changes) -> dict:
    data = {
        "warehouse": location.warehouse_id,
        "parent": location.parent_id or "",
        "code": location.code,
        "name": location.name,
        "kind": location.kind,
        "level": location.level,
        "barcode": location.barcode or "",
        "active": "on" if location.active else "",
    }
    return {**data, **changes}


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _errors(response) -> str:
    return str(response.context["adminform"].form.errors)


# --- The issue's attack ---------------------------------------------------------------------


def test_ams_manager_cannot_move_an_ams_bin_to_rtm(world):
    before = ledger_snapshot()
    a01 = world["a01"]

    response = _client(world["manager"]).post(_change_url(a01), _location_form(a01, warehouse=world["rtm"].pk))

    assert response.status_code == 200  # the form again, with the reason
    assert "You may not edit locations in that warehouse" in _errors(response)
    a01.refresh_from_db()
    assert a01.warehouse == world["ams"]  # the 321 units stay in AMS
    assert ledger_snapshot() == before
    assert reconcile() == []


@pytest.mark.parametrize(
    ("who", "change", "reason"),
    [
        ("system", "kind", "Virtual locations belong to no warehouse"),
        ("system", "kind and warehouse", "has stock or movements"),
        ("manager", "warehouse", "You may not edit locations in that warehouse"),
    ],
)
def test_a_refused_move_shows_its_reason_on_an_editable_form(world, who, change, reason):
    # The form copies the posted values onto the location before it is refused; the page must
    # still be the stocked bin's own (editable, with Save), showing why, not a read-only page of
    # a scrap location or another warehouse's bin that says "correct the error below" and no error.
    a01 = world["a01"]
    posted = {
        "kind": {"kind": "scrap"},
        "kind and warehouse": {"kind": "scrap", "warehouse": ""},
        "warehouse": {"warehouse": world["rtm"].pk},
    }[change]

    page = _client(world[who]).post(_change_url(a01), _location_form(a01, **posted)).content.decode()

    assert reason in page
    assert 'name="kind"' in page and 'name="warehouse"' in page  # still fields, not read-only text
    assert 'name="_save"' in page
    a01.refresh_from_db()
    assert (a01.kind, a01.warehouse) == ("internal", world["ams"])


def test_ams_manager_cannot_create_a_location_in_rtm(world):
    url = reverse("admin:catalog_location_add")
    data = {"warehouse": world["rtm"].pk, "code": "R-99", "kind": "internal", "level": "bin", "active": "on"}

    response = _client(world["manager"]).post(url, data)

    assert response.status_code == 200
    assert "You may not edit locations in that warehouse" in _errors(response)
    assert not Location.objects.filter(code="R-99").exists()


def test_ams_manager_creates_a_location_in_ams(world):
    url = reverse("admin:catalog_location_add")
    data = {"warehouse": world["ams"].pk, "code": "A-99", "kind": "internal", "level": "bin", "active": "on"}

    response = _client(world["manager"]).post(url, data)

    assert response.status_code == 302
    assert Location.objects.get(code="A-99").warehouse == world["ams"]


def test_ams_manager_may_not_change_or_delete_a_location_of_rtm(world):
    r01, client = world["r01"], _client(world["manager"])

    changed = client.post(_change_url(r01), _location_form(r01, name="mine now"))
    deleted = client.post(reverse("admin:catalog_location_delete", args=[r01.pk]), {"post": "yes"})

    assert changed.status_code == 403 and deleted.status_code == 403
    r01.refresh_from_db()
    assert r01.name == "R-01"


def test_warehouse_choices_offer_only_managed_warehouses(world):
    response = _client(world["manager"]).get(reverse("admin:catalog_location_add"))
    choices = response.context["adminform"].form.fields["warehouse"].queryset

    assert list(choices) == [world["ams"]]


def test_location_service_refuses_a_manager_without_manage(world):
    r01 = world["r01"]
    r01.name = "renamed"

    with pytest.raises(WarehousePermissionDenied) as refused:
        location_save(location=r01, actor=world["manager"])

    assert "may not edit the warehouse and its locations in warehouse RTM" in str(refused.value)
    assert Location.objects.get(pk=r01.pk).name == "R-01"


# --- Location rules (also for those who manage both warehouses) ------------------------------


def test_a_bin_with_stock_keeps_its_warehouse(world):
    before = ledger_snapshot()
    a01 = world["a01"]

    response = _client(world["system"]).post(_change_url(a01), _location_form(a01, warehouse=world["rtm"].pk))

    assert response.status_code == 200
    assert f"The warehouse of AMS/A-01 cannot change: AMS/A-01 {TRANSFER}" in _errors(response)
    assert Location.objects.get(pk=a01.pk).warehouse == world["ams"]
    assert ledger_snapshot() == before and reconcile() == []


def test_a_zone_whose_bin_has_stock_keeps_its_warehouse(world):
    zone = Location.objects.get(pk=world["zone"].pk)
    zone.warehouse = world["rtm"]

    with pytest.raises(ValidationError) as refused:
        zone.full_clean()

    assert f"AMS/Z holds AMS/Z-01, which {TRANSFER}" in str(refused.value.message_dict["warehouse"])


def test_a_bin_with_stock_keeps_its_kind(world):
    a01 = Location.objects.get(pk=world["a01"].pk)
    a01.kind, a01.warehouse = LocationKind.SCRAP, None

    with pytest.raises(ValidationError) as refused:
        a01.full_clean()

    assert TRANSFER in " ".join(refused.value.message_dict["kind"])


def test_a_location_with_sub_locations_keeps_its_warehouse(world):
    empty_zone = LocationFactory(warehouse=world["ams"], code="Y", level="zone")
    LocationFactory(warehouse=world["ams"], code="Y-01", parent=empty_zone)
    empty_zone.warehouse = world["rtm"]

    with pytest.raises(ValidationError) as refused:
        empty_zone.full_clean()

    assert "has sub-locations, which would stay in AMS" in str(refused.value)


def test_an_empty_bin_may_move_to_another_warehouse(world):
    a02 = world["a02"]

    response = _client(world["system"]).post(_change_url(a02), _location_form(a02, warehouse=world["rtm"].pk))

    assert response.status_code == 302
    assert Location.objects.get(pk=a02.pk).warehouse == world["rtm"]
    assert reconcile() == []


def test_a_bin_with_stock_may_change_its_parent_within_its_warehouse(world):
    a01 = world["a01"]

    response = _client(world["manager"]).post(_change_url(a01), _location_form(a01, parent=world["zone"].pk))

    assert response.status_code == 302
    assert Location.objects.get(pk=a01.pk).parent == world["zone"]
    assert reconcile() == []


# --- Location import ------------------------------------------------------------------------


def _import_row(actor, **raw) -> str:
    spec = parse_location_row(raw, row=2)
    return LocationWriter(actor=actor).save(spec, write=True)


def test_location_import_refuses_rows_of_a_warehouse_without_manage(world):
    with pytest.raises(ValidationError) as refused:
        _import_row(world["manager"], warehouse="RTM", code="R-77")

    assert "You may not edit warehouse RTM or its locations" in str(refused.value.message_dict["warehouse"])
    assert not Location.objects.filter(code="R-77").exists()
    assert _import_row(world["manager"], warehouse="AMS", code="A-77") == "new"


def test_location_import_creates_a_warehouse_only_with_add_warehouse(world):
    clerk = UserFactory(username="clerk-import", is_staff=True)
    assign_perm(WarehouseAction.MANAGE, clerk, world["ams"])

    with pytest.raises(ValidationError) as refused:
        _import_row(clerk, warehouse="UTR", code="U-01")

    assert "There is no warehouse UTR and you may not add one." in str(refused.value)
    assert not Warehouse.objects.filter(code="UTR").exists()
    # The manager's role may add warehouses, and then the new warehouse's locations.
    assert _import_row(world["manager"], warehouse="UTR", code="U-01") == "new"


# --- Warehouses -----------------------------------------------------------------------------


def _warehouse_form(warehouse: Warehouse, **changes) -> dict:
    data = {
        "code": warehouse.code,
        "name": warehouse.name,
        "address": warehouse.address,
        "time_zone": warehouse.time_zone,
        "allow_negative_stock": "on" if warehouse.allow_negative_stock else "",
        "active": "on" if warehouse.active else "",
    }
    return {**data, **{k: v for k, v in changes.items() if v is not None}}


def test_warehouse_change_form_needs_manage(world):
    rtm = world["rtm"]

    response = _client(world["manager"]).post(_change_url(rtm), _warehouse_form(rtm, name="Taken over"))

    assert response.status_code == 403
    assert Warehouse.objects.get(pk=rtm.pk).name == rtm.name


def test_negative_stock_stays_allowed_while_a_level_is_negative(world):
    ams, item = world["ams"], world["item"]
    warehouse_save(warehouse=_set(ams, allow_negative_stock=True), actor=world["system"])
    # A-01 holds 321 and Z-01 5; issuing 330 from A-01 takes it to 321 - 330 = -9.
    stock_issue(item=item, quantity=Decimal(330), location=world["a01"], actor=world["system"])
    before = ledger_snapshot()
    data = _warehouse_form(ams)
    data.pop("allow_negative_stock")  # unticked

    response = _client(world["manager"]).post(_change_url(ams), data)

    assert response.status_code == 200
    assert (
        "Negative stock cannot be switched off in AMS: 1 stock level is below zero "
        "(e.g. HDL-001 at AMS/A-01: -9). Count or adjust them to zero or more first."
    ) in _errors(response)
    assert Warehouse.objects.get(pk=ams.pk).allow_negative_stock is True
    assert ledger_snapshot() == before and reconcile() == []


def test_negative_stock_may_be_switched_off_when_no_level_is_negative(world):
    ams = world["ams"]
    warehouse_save(warehouse=_set(ams, allow_negative_stock=True), actor=world["system"])

    response = _client(world["manager"]).post(_change_url(ams), _warehouse_form(ams, allow_negative_stock=""))

    assert response.status_code == 302
    assert Warehouse.objects.get(pk=ams.pk).allow_negative_stock is False


def _set(obj, **fields):
    for name, value in fields.items():
        setattr(obj, name, value)
    return obj


# --- Items ----------------------------------------------------------------------------------


def _item_form(item: Item, **changes) -> dict:
    data = {
        "sku": item.sku,
        "name": item.name,
        "description": item.description,
        "category": item.category_id or "",
        "status": item.status,
        "discontinued_on": "",
        "base_unit": item.base_unit_id,
        "purchase_unit": item.purchase_unit_id or "",
        "purchase_factor": "",
        "sales_unit": item.sales_unit_id or "",
        "sales_factor": "",
        "tracking": item.tracking,
        "perishable": "",
        "shelf_life_days": "",
        "standard_cost": str(item.standard_cost),
        "valuation_method": item.valuation_method,
        "weight_kg": "",
        "length_cm": "",
        "width_cm": "",
        "height_cm": "",
        "barcodes-TOTAL_FORMS": "0",
        "barcodes-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_admin_refuses_a_new_base_unit_for_an_item_with_movements(world):
    item, kg = world["item"], UnitFactory(code="kg", name="Kilogram", dimension="mass", ratio=Decimal(1))
    before = ledger_snapshot()

    response = _client(world["manager"]).post(_change_url(item), _item_form(item, base_unit=kg.pk))

    assert response.status_code == 200
    assert "The base unit of HDL-001 cannot change: the item has stock movements." in _errors(response)
    assert Item.objects.get(pk=item.pk).base_unit.code == "each"
    assert ledger_snapshot() == before and reconcile() == []


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [("tracking", Tracking.LOT, "tracking"), ("valuation_method", ValuationMethod.FIFO, "valuation method")],
)
def test_tracking_and_valuation_freeze_once_the_item_has_movements(world, field, value, what):
    item = Item.objects.get(pk=world["item"].pk)
    setattr(item, field, value)

    with pytest.raises(ValidationError) as refused:
        item_save(item=item)

    assert refused.value.message_dict[field] == [f"The {what} of HDL-001 cannot change: the item has stock movements."]
    assert getattr(Item.objects.get(pk=item.pk), field) != value


def test_an_item_without_movements_may_change_unit_tracking_and_valuation(world):
    kg = UnitFactory(code="kg", name="Kilogram", dimension="mass", ratio=Decimal(1))
    fresh = ItemFactory(sku="NEW-001")
    _set(fresh, base_unit=kg, tracking=Tracking.LOT, valuation_method=ValuationMethod.FIFO)

    item_save(item=fresh)

    fresh.refresh_from_db()
    assert (fresh.base_unit, fresh.tracking, fresh.valuation_method) == (kg, "lot", "fifo")


def test_an_item_with_movements_and_no_method_keeps_moving_average_not_its_categorys(world):
    from catalog.models import Category
    from catalog.services import category_save

    fifo_category = category_save(category=Category(name="Lamps", valuation_method=ValuationMethod.FIFO))
    Item.objects.filter(pk=world["item"].pk).update(valuation_method="", category=fifo_category)
    item = Item.objects.get(pk=world["item"].pk)

    item_save(item=item)  # the ledger costed it by moving average, the default of an empty method

    assert Item.objects.get(pk=item.pk).valuation_method == ValuationMethod.MOVING_AVERAGE


# --- Units ----------------------------------------------------------------------------------


def _unit_form(unit: UnitOfMeasure, **changes) -> dict:
    data = {"code": unit.code, "name": unit.name, "dimension": unit.dimension, "ratio": str(unit.ratio or "")}
    data["decimal_places"] = str(unit.decimal_places)
    return {**data, **changes}


def test_a_units_ratio_freezes_once_an_item_using_it_has_movements(world):
    box = UnitFactory(code="box12", name="Box of 12", ratio=Decimal(12))
    Item.objects.filter(pk=world["item"].pk).update(purchase_unit=box)  # HDL-001 has movements
    before = ledger_snapshot()

    response = _client(world["system"]).post(_change_url(box), _unit_form(box, ratio="10"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["ratio"] == [
        "The ratio of unit box12 cannot change: item HDL-001 uses it and has stock movements. Add a new unit instead."
    ]
    assert UnitOfMeasure.objects.get(pk=box.pk).ratio == Decimal(12)
    assert ledger_snapshot() == before


def test_a_units_ratio_freezes_once_an_item_using_it_is_on_a_purchase_order(world):
    case = UnitFactory(code="case6", name="Case of 6", ratio=Decimal(6))
    ordered = ItemFactory(sku="ORD-001", base_unit=case)
    order = PurchaseOrder.objects.create(supplier=Supplier.objects.create(code="S1", name="S"), warehouse=world["ams"])
    PurchaseOrderLine.objects.create(order=order, item=ordered, quantity=Decimal(1), unit_cost=Decimal(1))
    case.dimension = "mass"

    with pytest.raises(ValidationError) as refused:
        case.full_clean()

    assert "item ORD-001 uses it and is on a purchase order" in str(refused.value.message_dict["dimension"])


def test_an_unused_units_ratio_may_change(world):
    box = UnitFactory(code="box10", name="Box of 10", ratio=Decimal(10))

    response = _client(world["system"]).post(_change_url(box), _unit_form(box, ratio="20"))

    assert response.status_code == 302
    assert UnitOfMeasure.objects.get(pk=box.pk).ratio == Decimal(20)


def test_the_warehouse_autocomplete_of_the_location_form_offers_only_managed_warehouses(world):
    url = reverse("admin:autocomplete")
    query = {"app_label": "catalog", "model_name": "location", "field_name": "warehouse", "term": ""}

    response = _client(world["manager"]).get(url, query)

    assert [row["text"] for row in response.json()["results"]] == [str(world["ams"])]


def test_master_data_stays_read_only_in_the_api(world):
    client = _client(world["manager"])

    responses = [
        client.patch(f"/api/v1/locations/{world['a01'].pk}/", {"warehouse": world["rtm"].pk}, "application/json"),
        client.patch(f"/api/v1/items/{world['item'].pk}/", {"base_unit": "kg"}, "application/json"),
        client.post("/api/v1/warehouses/", {"code": "NEW"}, "application/json"),
    ]

    assert [r.status_code for r in responses] == [405, 405, 405]
    assert Location.objects.get(pk=world["a01"].pk).warehouse == world["ams"]

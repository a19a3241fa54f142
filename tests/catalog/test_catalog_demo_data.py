"""The demo data (``seed_demo``) and the admin over it, as an Administrator-group user (staff, not
superuser) sees it.

One module on purpose: seeding is most of its time, and ``demo_data`` (module-scoped, rolled back
after the last test) seeds once for all of them.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from catalog.demo import DEMO_PASSWORDS, ITEMS, seed_demo
from catalog.models import (
    Barcode,
    Category,
    Item,
    ItemStatus,
    Location,
    LocationKind,
    LocationLevel,
    Tracking,
    ValuationMethod,
    Warehouse,
    validate_gtin,
)
from catalog.selectors import data_quality_problems
from inventory_site import roles

pytestmark = pytest.mark.django_db

# --- seed_demo: a realistic shop, deterministic, idempotent down to the history tables ---------


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (m2m tables and history included), by model label."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }


def test_second_run_writes_nothing_at_all(demo_data):
    assert sum(counts["created"] for counts in demo_data.values()) > 500  # the module's first run
    before = _snapshot()
    out = io.StringIO()

    seed_demo(stdout=out)  # the master data; tests/stock/test_demo.py runs the whole command

    assert _snapshot() == before
    assert "Nothing to do" in out.getvalue()
    assert all(counts["created"] == counts["updated"] == 0 for counts in seed_demo().values())


def test_a_changed_row_is_brought_back_and_only_that_row_is_written(demo_data):
    item = Item.objects.get(sku="KNF-001")
    item.name = "Renamed by a manager"
    item.save()
    user = get_user_model().objects.get(username="clerk")
    user.set_password("something-else-2026")
    user.save()
    get_user_model().objects.get(username="auditor").groups.add(Group.objects.get(name=roles.INVENTORY_MANAGER))
    Barcode.objects.filter(item__sku="TNT-001").delete()
    history_rows = item.history.count()

    report = seed_demo()

    assert report["items"] == {"created": 0, "updated": 1, "unchanged": len(ITEMS) - 1}
    assert report["barcodes"]["created"] == 1
    assert report["users"] == {"created": 0, "updated": 2, "unchanged": 3}
    assert Item.objects.get(sku="KNF-001").name == "Chef's knife 20 cm"
    assert item.history.count() == history_rows + 1
    assert get_user_model().objects.get(username="clerk").check_password(DEMO_PASSWORDS["clerk"])
    assert list(Group.objects.filter(user__username="auditor").values_list("name", flat=True)) == [roles.AUDITOR]


def test_warehouses_with_zones_aisles_and_bins(demo_data):
    assert list(Warehouse.objects.values_list("code", "name", "time_zone")) == [
        ("AMS", "Amsterdam main DC", "Europe/Amsterdam"),
        ("RTM", "Rotterdam city hub", "Europe/Amsterdam"),
    ]
    bin_ = Location.objects.select_related("parent__parent").get(warehouse__code="AMS", code="A-01-03")
    assert (bin_.level, bin_.kind, bin_.barcode) == (LocationLevel.BIN, LocationKind.INTERNAL, "LOC-AMS-A-01-03")
    assert (bin_.parent.code, bin_.parent.level) == ("A-01", LocationLevel.AISLE)
    assert (bin_.parent.parent.code, bin_.parent.parent.level) == ("A", LocationLevel.ZONE)
    levels = Counter(Location.objects.internal().values_list("level", flat=True))
    assert levels[LocationLevel.BIN] >= 50
    barcodes = list(Location.objects.internal().values_list("barcode", flat=True))
    assert all(barcodes) and len(set(barcodes)) == len(barcodes)
    assert Location.objects.filter(warehouse__isnull=True).count() == 5  # the virtual ones, untouched


def test_a_category_tree_with_fifo_branches(demo_data):
    assert Category.objects.filter(path="Home > Kitchen > Knives").exists()
    assert Category.objects.filter(path="Outdoor > Camping > Tents").exists()
    assert Category.objects.filter(parent__parent__isnull=False).count() >= 10  # third level
    coffee = Item.objects.filter(category__path="Food > Coffee")
    assert coffee.exists()
    assert set(coffee.values_list("valuation_method", flat=True)) == {ValuationMethod.FIFO}  # inherited
    assert Item.objects.filter(category__path="Home > Kitchen > Knives", valuation_method="average").count() == 11


def test_about_two_hundred_items_each_with_one_valid_ean13(demo_data):
    items = Item.objects.prefetch_related("barcodes")
    assert 180 <= items.count() <= 220
    for item in items:
        (barcode,) = item.barcodes.all()
        assert len(barcode.code) == 13
        validate_gtin(barcode.code)
    assert Barcode.objects.get(item__sku="KNF-001").code == "8719327000014"  # deterministic
    assert data_quality_problems() == []


def test_items_cover_perishables_lots_and_purchase_units(demo_data):
    perishable = Item.objects.filter(perishable=True)
    assert perishable.count() >= 20
    assert not perishable.filter(shelf_life_days__isnull=True).exists()
    assert Item.objects.filter(tracking=Tracking.LOT).count() >= 20
    assert Item.objects.filter(purchase_unit__code="box12").count() >= 30
    socks = Item.objects.get(sku="SCK-001")
    assert (socks.base_unit.code, socks.purchase_factor_effective) == ("pair", 12)
    assert len({name.lower() for name in Item.objects.values_list("name", flat=True)}) == Item.objects.count()


def test_one_user_per_role_with_the_demo_passwords(demo_data):
    users = {user.username: user for user in get_user_model().objects.filter(username__in=DEMO_PASSWORDS)}
    expected = {
        "admin": (roles.ADMINISTRATOR, True, True),
        "manager": (roles.INVENTORY_MANAGER, True, False),
        "purchaser": (roles.PURCHASING_MANAGER, True, False),
        "clerk": (roles.WAREHOUSE_CLERK, False, False),
        "auditor": (roles.AUDITOR, True, False),
    }
    for username, (group, is_staff, is_superuser) in expected.items():
        user = users[username]
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert (user.is_staff, user.is_superuser) == (is_staff, is_superuser)
        assert user.check_password(DEMO_PASSWORDS[username])
        validate_password(DEMO_PASSWORDS[username], user)  # raises if a validator refuses it


def test_warehouse_permissions_scope_the_clerk_to_amsterdam(demo_data):
    clerk = get_user_model().objects.get(username="clerk")
    auditor = get_user_model().objects.get(username="auditor")
    ams, rtm = Warehouse.objects.get(code="AMS"), Warehouse.objects.get(code="RTM")

    assert clerk.has_perm("catalog.post_warehouse_movements", ams)
    assert not clerk.has_perm("catalog.post_warehouse_movements", rtm)
    assert auditor.has_perm("catalog.view_warehouse_stock", rtm)
    assert not auditor.has_perm("catalog.post_warehouse_movements", rtm)


# --- the admin ----------------------------------------------------------------------------


@pytest.fixture
def administrator(demo_data):
    user = get_user_model().objects.create_user("admin-test", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    return user


@pytest.fixture
def client_as(administrator) -> Client:
    client = Client()
    client.force_login(administrator)
    return client


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _admin_request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_every_registered_model_answers_changelist_add_and_change(client_as, administrator):
    assert not administrator.is_superuser
    request = _admin_request(administrator)
    checked = []
    for model, model_admin in admin.site._registry.items():
        assert client_as.get(_url(model, "changelist")).status_code == 200, model
        expected_add = 200 if model_admin.has_add_permission(request) else 403
        assert client_as.get(_url(model, "add")).status_code == expected_add, model
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            assert client_as.get(_url(model, "change", obj.pk)).status_code == 200, model
            checked.append(model._meta.label)
    assert {"catalog.Item", "catalog.Category", "catalog.Location", "catalog.Warehouse"} <= set(checked)
    catalog_models = {m._meta.label for m in admin.site._registry if m._meta.app_label == "catalog"}
    assert catalog_models == {
        f"catalog.{name}"
        for name in ("Category", "UnitOfMeasure", "Item", "Barcode", "Warehouse", "Location", "WarehouseAccessChange")
    }


def test_item_history_and_changelist_search_by_barcode(client_as):
    item = Item.objects.get(sku="KNF-001")

    history = client_as.get(_url(Item, "history", item.pk))
    found = client_as.get(_url(Item, "changelist"), {"q": item.barcodes.get().code})

    assert history.status_code == 200
    assert "Chef&#x27;s knife 20 cm" in history.content.decode()
    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [item]


def test_data_quality_page_lists_problems_grouped_with_links(client_as):
    item = Item.objects.get(sku="KNF-002")
    item.barcodes.all().delete()
    url = _url(Item, "data_quality")

    changelist = client_as.get(_url(Item, "changelist")).content.decode()
    response = client_as.get(url)

    assert f'href="{url}"' in changelist
    assert response.status_code == 200
    page = response.content.decode()
    assert "Items without a barcode (1)" in page
    assert f'href="{_url(Item, "change", item.pk)}"' in page
    assert "Items sharing a name" not in page


def test_data_quality_page_needs_view_item_permission(demo_data):
    staff = get_user_model().objects.create_user("staff-no-perms", is_staff=True)
    client = Client()
    client.force_login(staff)
    url = _url(Item, "data_quality")

    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_item"))
    assert client.get(url).status_code == 200


def test_discontinue_action_discontinues_and_records_the_user(client_as, administrator):
    items = list(Item.objects.filter(sku__in=["TNT-001", "TNT-002"]))
    untouched = Item.objects.get(sku="TNT-003")

    response = client_as.post(
        _url(Item, "changelist"),
        {"action": "discontinue_selected", "_selected_action": [item.pk for item in items]},
    )

    assert response.status_code == 302
    for item in items:
        item.refresh_from_db()
        assert (item.status, item.discontinued_on) == (ItemStatus.DISCONTINUED, timezone.localdate())
        record = item.history.latest()
        assert (record.history_type, record.history_user) == ("~", administrator)
    untouched.refresh_from_db()
    assert untouched.status == ItemStatus.ACTIVE


def test_renaming_a_category_in_the_admin_updates_descendant_paths(client_as, administrator):
    kitchen = Category.objects.get(path="Home > Kitchen")

    response = client_as.post(
        _url(Category, "change", kitchen.pk),
        {"name": "Kitchen & dining", "parent": kitchen.parent_id, "valuation_method": ""},
    )

    assert response.status_code == 302
    assert Category.objects.get(pk=kitchen.pk).history.latest().history_user == administrator
    assert Category.objects.filter(path="Home > Kitchen & dining > Knives").exists()
    assert not Category.objects.filter(path__startswith="Home > Kitchen >").exists()


def test_adding_an_item_in_the_admin_takes_the_category_method_and_saves_barcodes(client_as):
    coffee = Category.objects.get(path="Food > Coffee")
    each = Item.objects.get(sku="KNF-001").base_unit

    response = client_as.post(
        _url(Item, "add"),
        {
            "sku": " cof-900 ",
            "name": "Guatemala Huehuetenango beans 250 g",
            "category": coffee.pk,
            "status": ItemStatus.ACTIVE,
            "base_unit": each.pk,
            "tracking": "lot",
            "perishable": "on",
            "shelf_life_days": "365",
            "standard_cost": "4.80",
            "valuation_method": "",
            "barcodes-TOTAL_FORMS": "1",
            "barcodes-INITIAL_FORMS": "0",
            "barcodes-MIN_NUM_FORMS": "0",
            "barcodes-MAX_NUM_FORMS": "1000",
            "barcodes-0-code": "8719327 99999 8",
            "barcodes-0-kind": "gtin",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    item = Item.objects.get(sku="cof-900")
    assert item.valuation_method == ValuationMethod.FIFO
    assert list(item.barcodes.values_list("code", flat=True)) == ["8719327999998"]


def test_adding_an_item_with_a_wrong_check_digit_writes_nothing(client_as):
    count = Item.objects.count(), Barcode.objects.count()
    response = client_as.post(
        _url(Item, "add"),
        {
            "sku": "COF-901",
            "name": "Kenya AA beans 250 g",
            "status": ItemStatus.ACTIVE,
            "base_unit": Item.objects.get(sku="KNF-001").base_unit_id,
            "tracking": "none",
            "standard_cost": "4.80",
            "barcodes-TOTAL_FORMS": "1",
            "barcodes-INITIAL_FORMS": "0",
            "barcodes-MIN_NUM_FORMS": "0",
            "barcodes-MAX_NUM_FORMS": "1000",
            "barcodes-0-code": "8719327999995",
            "barcodes-0-kind": "gtin",
        },
    )

    assert response.status_code == 200
    assert "wrong check digit (expected 8)" in response.content.decode()
    assert (Item.objects.count(), Barcode.objects.count()) == count


def test_virtual_locations_cannot_be_deleted(client_as):
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)
    bin_ = Location.objects.get(warehouse__code="RTM", code="B-03-04")

    assert client_as.get(_url(Location, "delete", supplier.pk)).status_code == 403
    assert client_as.get(_url(Location, "delete", bin_.pk)).status_code == 200
    change_page = client_as.get(_url(Location, "change", supplier.pk)).content.decode()
    assert _url(Location, "delete", supplier.pk) not in change_page

    selection = {"action": "delete_selected", "_selected_action": [supplier.pk, bin_.pk]}
    confirmation = client_as.post(_url(Location, "changelist"), selection)
    confirmed = client_as.post(_url(Location, "changelist"), {**selection, "post": "yes"})

    assert confirmation.status_code == 200
    assert "virtual location" in confirmation.content.decode()  # listed as not deletable by this user
    assert confirmed.status_code == 403
    assert Location.objects.filter(pk__in=[supplier.pk, bin_.pk]).count() == 2


def test_deleting_only_internal_locations_in_bulk_still_works(client_as):
    bins = list(Location.objects.filter(warehouse__code="RTM", code__in=["B-03-03", "B-03-04"]))

    response = client_as.post(
        _url(Location, "changelist"),
        {"action": "delete_selected", "_selected_action": [b.pk for b in bins], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Location.objects.filter(pk__in=[b.pk for b in bins]).exists()


def test_discontinued_item_keeps_its_date_when_discontinued_again(client_as):
    item = Item.objects.get(sku="TNT-004")
    item.status, item.discontinued_on = ItemStatus.DISCONTINUED, date(2025, 6, 30)
    item.save()

    client_as.post(_url(Item, "changelist"), {"action": "discontinue_selected", "_selected_action": [item.pk]})

    item.refresh_from_db()
    assert item.discontinued_on == date(2025, 6, 30)

"""The admin: import with a dry-run preview (new / updated / unchanged / error per row), all or
nothing on confirm; export of the list as filtered and scoped, formulas neutralised."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import assign_perm
from openpyxl import load_workbook

from catalog.models import Item, ItemStatus
from catalog.permissions import WarehouseAction
from catalog.services import item_save
from stock.models import Movement
from tests.stock.factories import ItemFactory, LocationFactory, UserFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def _url(model: str, view: str) -> str:
    app = "stock" if model == "stocklevel" else "catalog"
    return reverse(f"admin:{app}_{model}_{view}")


@pytest.fixture
def client(admin_user, units) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _preview(client: Client, model: str, name: str, content: bytes, **extra):
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(_url(model, "import"), {"resource": "0", "format": "0", "import_file": upload, **extra})


def _confirm(client: Client, model: str, preview):
    form = preview.context["confirm_form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    return client.post(_url(model, "process_import"), data)


def test_preview_shows_each_row_then_confirm_writes_with_the_user_in_history(client, admin_user, units):
    item_save(item=Item(sku="KNF-1", name="Knife", base_unit=units["each"]))
    item_save(item=Item(sku="PAN-1", name="Pan", base_unit=units["each"]))
    content = b"SKU;Name;Category\nknf-1;Chef knife;\nPAN-1;Pan;\nNEW-1;Spoon;Home > Kitchen\n"

    preview = _preview(client, "item", "items.csv", content, create_categories="on")

    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Preview: 1 new, 1 updated, 1 unchanged, 0 with errors" in page
    assert [(e["row"], e["status"], e["label"]) for e in preview.context["result"].inventory_report] == [
        (2, "updated", "knf-1"),
        (3, "unchanged", "PAN-1"),
        (4, "new", "NEW-1"),
    ]
    assert "changes name, sku" in page
    assert Item.objects.count() == 2  # the preview was a dry run

    done = _confirm(client, "item", preview)

    assert done.status_code == 302
    assert Item.objects.get(sku="NEW-1").category.path == "Home > Kitchen"
    assert Item.objects.get(sku="knf-1").history.latest().history_user == admin_user


def test_errors_name_row_column_and_reason_and_nothing_can_be_confirmed(client, units):
    content = b"sku,name,unit,barcodes\nOK-1,Fine,each,\nBAD-1,Wrong,pcs,4006381333932\n"

    preview = _preview(client, "item", "items.csv", content)

    page = preview.content.decode()
    assert "1 new, 0 updated, 0 unchanged, 1 with errors" in page
    assert "Nothing will be imported until every row is right" in page
    entry = preview.context["result"].inventory_report[1]
    assert (entry["row"], entry["status"]) == (3, "error")
    assert any(d.startswith("column unit: there is no unit 'pcs'") for d in entry["details"])
    assert any("column barcodes" in d and "wrong check digit (expected 1)" in d for d in entry["details"])
    assert "confirm_form" not in preview.context
    assert not Item.objects.exists()


def test_a_file_that_is_not_a_table_is_explained_on_the_form(client):
    preview = _preview(client, "item", "photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00")

    assert "it looks like a PNG image" in preview.content.decode()
    assert not Item.objects.exists()


def test_a_file_without_the_required_column_is_refused_whole(client):
    preview = _preview(client, "item", "items.csv", b"Name,Colour\nKnife,red\n")

    page = preview.content.decode()
    assert "The file cannot be imported" in page
    assert "The file has no &#x27;sku&#x27; column (its columns: Name, Colour)." in page
    assert "confirm_form" not in preview.context


def test_confirm_writes_nothing_if_a_row_became_invalid_meanwhile(client, units):
    preview = _preview(
        client, "item", "items.csv", b"sku,name,category\nK-1,Knife,Home\nK-2,Pan,\n", create_categories="on"
    )
    form = preview.context["confirm_form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data["create_categories"] = ""  # the confirm no longer creates the category: row 2 fails

    done = client.post(_url("item", "process_import"), data, follow=True)

    assert "Nothing was imported: row 2" in done.content.decode()
    assert not Item.objects.exists()


def test_export_follows_the_list_filters_and_neutralises_formulas(client, units):
    item_save(item=Item(sku="ACTIVE", name="=1+2", base_unit=units["each"]))
    item_save(
        item=Item(
            sku="OLD", name="Old", base_unit=units["each"], status=ItemStatus.DISCONTINUED, discontinued_on="2024-01-01"
        )
    )

    response = client.post(_url("item", "export") + "?status__exact=active", {"format": "0", "resource": "0"})

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["sku", "name", "description"]
    assert [r[:2] for r in rows[1:]] == [["ACTIVE", "'=1+2"]]

    response = client.post(_url("item", "export"), {"format": "1", "resource": "0"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["ACTIVE", "OLD"]


def test_location_export_is_scoped_to_the_users_warehouses(units):
    mine, theirs = WarehouseFactory(code="MINE"), WarehouseFactory(code="THEIRS")
    LocationFactory(warehouse=mine, code="M-01")
    LocationFactory(warehouse=theirs, code="T-01")
    user = UserFactory(username="scoped", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_location"))
    assign_perm(f"catalog.{WarehouseAction.VIEW}", user, mine)
    client = Client()
    client.force_login(user)

    response = client.post(_url("location", "export"), {"format": "0", "resource": "0"})

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r[0], r[1]) for r in rows[1:]] == [("MINE", "M-01")]
    assert client.get(_url("location", "import")).status_code == 403  # view only: no import


def test_changelist_keeps_its_links_and_offers_import_and_export(client):
    page = client.get(_url("item", "changelist")).content.decode()

    assert "Data quality" in page
    assert _url("item", "import") in page and _url("item", "export") in page


def test_opening_balances_are_posted_by_the_importing_user(client, admin_user, units):
    location = LocationFactory(warehouse=WarehouseFactory(code="AMS"), code="A-01")
    ItemFactory(sku="WIDGET", standard_cost=Decimal(2))
    content = b"sku,warehouse,location,quantity\nWIDGET,AMS,A-01,7\n"

    preview = _preview(client, "stocklevel", "opening.csv", content)
    assert "Preview: 1 new, 0 updated, 0 unchanged, 0 with errors" in preview.content.decode()
    assert not Movement.objects.exists()
    _confirm(client, "stocklevel", preview)

    movement = Movement.objects.get()
    assert (movement.actor, movement.quantity, movement.destination) == (admin_user, Decimal(7), location)
    again = _preview(client, "stocklevel", "opening.csv", content)
    assert "0 new, 0 updated, 1 unchanged" in again.content.decode()  # posted once, never twice


def test_category_and_location_imports_through_the_admin(client):
    preview = _preview(client, "category", "cats.csv", b"path,valuation_method\nFood > Dairy,fifo\n")
    _confirm(client, "category", preview)
    preview = _preview(client, "location", "locs.csv", b"warehouse,code,warehouse_name\nAMS,A-01,Amsterdam\n")
    _confirm(client, "location", preview)

    from catalog.models import Category, Location

    assert Category.objects.get(path="Food > Dairy").valuation_method == "fifo"
    assert Location.objects.get(code="A-01").warehouse.name == "Amsterdam"


def test_stock_levels_export_in_the_opening_balance_columns(client, run, write, units):
    LocationFactory(warehouse=WarehouseFactory(code="AMS"), code="A-01")
    ItemFactory(sku="MILK", lot_tracked=True)
    ItemFactory(sku="WIDGET")
    content = "sku,warehouse,location,quantity,unit_cost,lot,expiry\n"
    content += "WIDGET,AMS,A-01,2,4,,\nMILK,AMS,A-01,3,1.5,L1,2031-01-31\n"
    assert run("import_opening_balances", write("opening.csv", content)).ok

    response = client.post(_url("stocklevel", "export"), {"format": "0", "resource": "0"})

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        ["sku", "warehouse", "location", "quantity", "unit_cost", "lot", "expiry"],
        ["MILK", "AMS", "A-01", "3", "1.5", "L1", "2031-01-31"],
        ["WIDGET", "AMS", "A-01", "2", "4", "", ""],
    ]

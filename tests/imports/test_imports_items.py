"""``import_items``: what a row creates or changes, history, all-or-nothing, the error report."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from catalog.models import Barcode, BarcodeKind, Category, Item, ItemStatus, Tracking, ValuationMethod
from catalog.services import category_get_or_create_path, category_save, item_save
from stock.services import stock_receive
from tests.stock.factories import LocationFactory, UserFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

FULL_HEADER = (
    "sku,name,description,category,unit,purchase_unit,purchase_factor,barcodes,status,tracking,perishable,"
    "shelf_life_days,standard_cost,valuation_method,weight_kg\n"
)


def test_sku_and_name_are_enough_for_a_new_item_and_the_rest_takes_defaults(run, write):
    path = write("items.csv", "sku,name\nKNF-1,Chef knife\n")

    ran = run("import_items", path)

    assert ran.ok, ran.text
    item = Item.objects.get(sku="KNF-1")
    assert (item.name, item.base_unit.code, item.status, item.tracking) == ("Chef knife", "each", "active", "none")
    assert (item.perishable, item.standard_cost, item.valuation_method) == (False, 0, ValuationMethod.MOVING_AVERAGE)
    assert "1 new, 0 updated, 0 unchanged" in ran.out


def test_every_column_is_read(run, write, units):
    category_save(category=Category(name="Food", valuation_method=ValuationMethod.FIFO))
    path = write(
        "items.csv",
        FULL_HEADER
        + 'MILK-1,Milk,Fresh milk,Food > Dairy,l,box12,6,4006381333931|SHELF-7,discontinued,lot,yes,10,"1,25",,0.5\n',
    )

    ran = run("import_items", path, "--create-categories")

    assert ran.ok, ran.text
    item = Item.objects.get(sku="MILK-1")
    assert item.description == "Fresh milk"
    assert item.category.path == "Food > Dairy"
    assert item.valuation_method == ValuationMethod.FIFO  # empty cell: the category's method
    assert (item.base_unit.code, item.purchase_unit.code, item.purchase_factor) == ("l", "box12", Decimal(6))
    assert (item.status, item.discontinued_on is not None) == (ItemStatus.DISCONTINUED, True)
    assert (item.tracking, item.perishable, item.shelf_life_days) == (Tracking.LOT, True, 10)
    assert (item.standard_cost, item.weight_kg) == (Decimal("1.25"), Decimal("0.5"))
    assert sorted(item.barcodes.values_list("code", "kind")) == [
        ("4006381333931", BarcodeKind.GTIN),
        ("SHELF-7", BarcodeKind.INTERNAL),
    ]


def test_existing_sku_is_updated_ignoring_case_and_history_records_the_change(run, write, units):
    item = item_save(item=Item(sku="KNF-1", name="Knife", base_unit=units["each"], standard_cost=Decimal(3)))
    user = UserFactory(username="importer")
    path = write("items.csv", "sku,name,standard_cost,weight_kg\nknf-1 ,Chef knife,,\n")

    ran = run("import_items", path, "--user", "importer")

    assert ran.ok, ran.text
    item.refresh_from_db()
    assert (item.sku, item.name) == ("knf-1", "Chef knife")
    assert item.standard_cost == Decimal(3)  # an empty cell changes nothing
    latest = item.history.latest()
    assert (latest.history_type, latest.history_user, latest.name) == ("~", user, "Chef knife")
    assert latest.history_change_reason == "Imported from items.csv"
    assert Item.objects.count() == 1
    assert "0 new, 1 updated, 0 unchanged" in ran.out


def test_unchanged_rows_write_no_history_and_import_never_deletes(run, write, units):
    kept = item_save(item=Item(sku="OTHER", name="Not in the file", base_unit=units["each"]))
    item = item_save(item=Item(sku="KNF-1", name="Knife", base_unit=units["each"]))
    Barcode.objects.create(item=item, code="OLD-CODE", kind=BarcodeKind.INTERNAL)
    path = write("items.csv", "sku,name,barcodes\nKNF-1,Knife,\n")
    history_before = item.history.count()

    ran = run("import_items", path)

    assert ran.ok, ran.text
    assert "0 new, 0 updated, 1 unchanged" in ran.out
    assert item.history.count() == history_before
    assert Item.objects.filter(pk=kept.pk).exists()
    assert list(item.barcodes.values_list("code", flat=True)) == ["OLD-CODE"]


def test_new_barcodes_are_added_to_existing_ones(run, write, units):
    item = item_save(item=Item(sku="KNF-1", name="Knife", base_unit=units["each"]))
    Barcode.objects.create(item=item, code="OLD-CODE", kind=BarcodeKind.INTERNAL)

    ran = run("import_items", write("items.csv", "sku,barcodes\nKNF-1,OLD-CODE|NEW-CODE\n"))

    assert ran.ok, ran.text
    assert sorted(item.barcodes.values_list("code", flat=True)) == ["NEW-CODE", "OLD-CODE"]
    assert Barcode.history.filter(code="NEW-CODE", history_type="+").exists()


def test_one_invalid_row_writes_nothing_and_the_report_lists_every_error(run, write, units):
    path = write(
        "items.csv",
        "sku,name,unit,standard_cost\nOK-1,Fine,each,1\nBAD-1,Bad unit,pcs,1\n"
        "OK-2,Fine,each,1\nBAD-2,Bad cost,each,-3\n",
    )

    ran = run("import_items", path)

    assert not ran.ok
    assert not Item.objects.exists()
    assert "2 error(s): nothing was written" in ran.error
    assert "Row 3, column unit ('pcs'): there is no unit 'pcs'" in ran.err
    report = path.with_name("items.errors.csv")
    with report.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "column", "value", "message"]
    # The report is a spreadsheet too: a value that would run as a formula is neutralised.
    assert [r[:3] for r in rows[1:]] == [["3", "unit", "pcs"], ["5", "standard_cost", "'-3"]]
    assert "cannot be below 0" in rows[2][3]


def test_dry_run_counts_and_writes_nothing(run, write, units):
    item_save(item=Item(sku="KNF-1", name="Knife", base_unit=units["each"]))

    ran = run("import_items", write("items.csv", "sku,name\nKNF-1,Renamed\nNEW-1,New\n"), "--dry-run")

    assert ran.ok, ran.text
    assert "1 new, 1 updated, 0 unchanged. Dry run: nothing was written." in ran.out
    assert list(Item.objects.values_list("sku", "name")) == [("KNF-1", "Knife")]


def test_batches_are_written_inside_one_transaction(run, write, units):
    rows = "".join(f"SKU-{n:03d},Item {n}\n" for n in range(25))
    path = write("items.csv", "sku,name\n" + rows + "SKU-000,Duplicate at the end\n")

    ran = run("import_items", path, "--batch-size", "5")

    assert not ran.ok
    assert "SKU 'SKU-000' is on rows 2 and 27" in ran.err
    assert not Item.objects.exists()  # the five batches already written were rolled back
    assert run("import_items", write("ok.csv", "sku,name\n" + rows), "--batch-size", "5").ok
    assert Item.objects.count() == 25
    assert Item.history.count() == 25


def test_state_dependent_errors(run, write, units):
    item_save(item=Item(sku="TAKEN", name="Has the code", base_unit=units["each"]))
    Barcode.objects.create(item=Item.objects.get(sku="TAKEN"), code="4006381333931")
    path = write(
        "items.csv",
        "sku,name,unit,purchase_unit,perishable,barcodes\n"
        "NO-NAME,,each,,,\n"  # names missing on a new item
        ",Nameless SKU,each,,,\n"
        "FRESH,Milk,l,,yes,\n"
        "RICE,Rice,kg,box12,,\n"
        "COPY,Copy,each,,,4006381333931\n",
    )

    ran = run("import_items", path)

    assert not ran.ok
    assert "Row 2, column name: A new item needs a name." in ran.err
    assert "Row 3, column sku: The SKU is empty: every row needs one." in ran.err
    assert "Row 4, column shelf_life_days: A perishable item needs its shelf life in days." in ran.err
    assert "box12 does not convert to kg: give purchase_factor, the number of kg in one box12." in ran.err
    assert "Barcode 4006381333931 already belongs to item TAKEN." in ran.err


def test_unit_tracking_and_valuation_cannot_change_once_the_item_has_movements(run, write, units):
    item = item_save(item=Item(sku="WIDGET", name="Widget", base_unit=units["each"]))
    location = LocationFactory(warehouse=WarehouseFactory(code="WH1"), code="A-01")
    stock_receive(item=item, location=location, quantity=Decimal(1), actor=None, unit_cost=Decimal(1))

    ran = run("import_items", write("items.csv", "sku,unit,tracking,valuation_method\nWIDGET,kg,lot,fifo\n"))

    assert not ran.ok
    for what in ("base unit", "tracking", "valuation method"):
        assert f"The {what} of WIDGET cannot change: the item has stock movements." in ran.err
    item.refresh_from_db()
    assert (item.base_unit.code, item.tracking) == ("each", "none")


def test_categories_are_matched_ignoring_case_and_spacing(run, write, units):
    category = category_get_or_create_path(path="Home > Kitchen > Knives")

    ran = run("import_items", write("items.csv", "sku,name,category\nK-1,Knife,home>kitchen >  KNIVES\n"))

    assert ran.ok, ran.text
    assert Item.objects.get().category == category
    assert Category.objects.count() == 3

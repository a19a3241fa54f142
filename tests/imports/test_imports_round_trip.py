"""Export, re-import, nothing changes: items, categories, warehouses and locations, CSV and XLSX;
and exported cells never run as spreadsheet formulas."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from catalog.importing.items import ITEM_COLUMNS
from catalog.models import Barcode, BarcodeKind, Category, Item, Location, Tracking, ValuationMethod, Warehouse
from catalog.services import category_get_or_create_path, category_save, item_save
from tests.stock.factories import LocationFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(units):
    knives = category_get_or_create_path(path="Home > Kitchen > Knives")
    food = category_save(category=Category(name="Food", valuation_method=ValuationMethod.FIFO))
    items = [
        item_save(item=Item(sku="KNF-1", name="Chef knife", category=knives, base_unit=units["each"])),
        item_save(
            item=Item(
                sku="MILK-1",
                name="Milk, 1 l",
                description='Fresh; "whole"\nsecond line',
                category=food,
                base_unit=units["l"],
                purchase_unit=units["box12"],
                purchase_factor=Decimal(6),
                tracking=Tracking.LOT,
                perishable=True,
                shelf_life_days=10,
                standard_cost=Decimal("1.2500"),
                weight_kg=Decimal("1.03"),
            )
        ),
        item_save(
            item=Item(sku="=cmd|' /C calc'!A0", name="+SUM(A1:A9)", description="@evil -1", base_unit=units["kg"])
        ),
    ]
    Barcode.objects.create(item=items[0], code="4006381333931")
    Barcode.objects.create(item=items[0], code="-SHELF", kind=BarcodeKind.INTERNAL)
    warehouse = WarehouseFactory(code="AMS", name="Amsterdam")
    zone = LocationFactory(warehouse=warehouse, code="A", name="Zone A", level="zone")
    LocationFactory(warehouse=warehouse, code="A-01", parent=zone, barcode="LOC-AMS-A-01")
    WarehouseFactory(code="RTM", name="Rotterdam (empty)")
    return items


def _history_counts():
    return (Item.history.count(), Barcode.history.count(), Category.history.count(), Location.history.count())


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_export_then_import_changes_nothing(run, tmp_path, catalog, suffix):
    before = _history_counts()
    snapshot = sorted(Item.objects.values_list())
    for kind in ("categories", "locations", "items"):
        path = tmp_path / f"{kind}.{suffix}"
        assert run(f"export_{kind}", path).ok

        ran = run(f"import_{kind}", path)

        assert ran.ok, ran.text
        assert " 0 new, 0 updated, " in ran.out, ran.out
    assert _history_counts() == before
    assert sorted(Item.objects.values_list()) == snapshot
    assert Warehouse.objects.count() == 2


def test_export_writes_exactly_the_columns_and_neutralises_formulas(run, tmp_path, catalog):
    path = tmp_path / "items.csv"
    run("export_items", path)

    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))

    assert tuple(rows[0]) == ITEM_COLUMNS
    by_sku = {row[0]: dict(zip(ITEM_COLUMNS, row, strict=True)) for row in rows[1:]}
    evil = by_sku["'=cmd|' /C calc'!A0"]
    assert (evil["name"], evil["description"]) == ("'+SUM(A1:A9)", "'@evil -1")
    assert by_sku["KNF-1"]["barcodes"] == "'-SHELF|4006381333931"
    assert by_sku["KNF-1"]["category"] == "Home > Kitchen > Knives"
    assert by_sku["MILK-1"]["standard_cost"] == "1.25"
    assert by_sku["MILK-1"]["perishable"] == "true"


def test_xlsx_export_holds_text_not_formulas(run, tmp_path, catalog):
    path = tmp_path / "items.xlsx"
    run("export_items", path)

    sheet = load_workbook(path).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    data_types = {cell.data_type for row in sheet.iter_rows() for cell in row}

    assert "'=cmd|' /C calc'!A0" in values and "'+SUM(A1:A9)" in values
    assert "f" not in data_types  # no cell is a formula


def test_location_file_creates_warehouses_and_nested_locations(run, write, units):
    path = write(
        "locations.csv",
        "warehouse,code,name,parent,level,barcode,active,warehouse_name\n"
        "ams,a,Zone A,,zone,,,Amsterdam\n"
        "AMS,A-01,Bin,A,bin,LOC-1,yes,\n"
        "RTM,,,,,,,Rotterdam\n",
    )

    ran = run("import_locations", path)

    assert ran.ok, ran.text
    assert dict(Warehouse.objects.values_list("code", "name")) == {"AMS": "Amsterdam", "RTM": "Rotterdam"}
    bin_ = Location.objects.get(code="A-01")
    assert (bin_.parent.code, bin_.warehouse.code, bin_.barcode, bin_.level) == ("A", "AMS", "LOC-1", "bin")


def test_location_errors_name_row_and_column(run, write, units):
    path = write(
        "locations.csv",
        "warehouse,code,parent,barcode,level,warehouse_name\n"
        "AMS,A-01,NOPE,,,Amsterdam\n"
        "AMS,A-02,,SAME,,\n"
        "AMS,A-03,,SAME,,\n"
        "AMS,A-02,,,,\n"
        "AMS,A-04,,,shelf,\n"
        "AMS,A-05,,,,Other name\n",
    )

    ran = run("import_locations", path)

    assert not ran.ok
    assert "Row 2, column parent: There is no location NOPE in warehouse AMS" in ran.err
    assert "Row 4, column barcode ('SAME'): Barcode SAME is on rows 3 and 4." in ran.err
    assert "Row 5, column code ('A-02'): Location AMS/A-02 is on rows 3 and 5." in ran.err
    assert "Row 6, column level ('shelf'): 'shelf' is not one of: aisle, area, bin, zone." in ran.err
    assert "Warehouse AMS is named 'Amsterdam' on row 2: one name per warehouse." in ran.err
    assert not Warehouse.objects.exists()


def test_category_file_creates_paths_and_sets_valuation(run, write, units):
    path = write(
        "categories.csv", "path,valuation_method\nFood > Dairy,fifo\nFood,\nHome>Kitchen,average\nfood > dairy,\n"
    )

    ran = run("import_categories", path)

    assert not ran.ok
    assert "Row 5, column path ('food > dairy'): Category 'food > dairy' is on rows 2 and 5." in ran.err
    ran = run("import_categories", write("ok.csv", "path,valuation_method\nFood > Dairy,fifo\nFood,\nHome>Kitchen,\n"))
    assert ran.ok, ran.text
    assert dict(Category.objects.values_list("path", "valuation_method")) == {
        "Food": "",
        "Food > Dairy": "fifo",
        "Home": "",
        "Home > Kitchen": "",
    }
    assert "2 new, 0 updated, 1 unchanged" in ran.out  # "Food" came with "Food > Dairy"

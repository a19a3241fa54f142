"""Messy files: every case gets a clear message (or just works) through ``import_items``."""

from __future__ import annotations

import io
import tracemalloc
from decimal import Decimal

import pytest
from openpyxl import Workbook

from catalog.importing.reading import open_path
from catalog.importing.runner import raw_row
from catalog.models import Category, Item

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("content", "encoding", "described"),
    [
        ("sku,name\nCAFE-1,Café crème\n", "utf-8", "utf-8"),
        ("\ufeffsku,name\nCAFE-1,Café crème\n", "utf-8", "utf-8-sig"),
        ("sku,name\nCAFE-1,Café crème\n", "cp1252", "cp1252"),
        ("sku,name\nCAFE-1,Café crème\n", "utf-16", "utf-16"),
    ],
    ids=["utf8", "utf8-bom", "windows-1252", "utf16-bom"],
)
def test_encodings_are_detected(run, write, content, encoding, described):
    ran = run("import_items", write("items.csv", content, encoding))

    assert ran.ok, ran.text
    assert Item.objects.get().name == "Café crème"
    assert f"CSV, {described}" in ran.out


def test_latin1_with_bytes_windows_1252_does_not_define(run, write):
    ran = run("import_items", write("items.csv", b"sku,name\nX-1,Ctrl\x81 \xe9t\xe9\n"))

    assert ran.ok, ran.text
    assert Item.objects.get().name == "Ctrl\x81 été"
    assert "latin-1" in ran.out


def test_encoding_can_be_given_and_a_wrong_one_is_explained(run, write):
    path = write("items.csv", "sku,name\nCAFE-1,Café\n", "cp1252")

    ran = run("import_items", path, "--encoding", "utf-8")
    assert not ran.ok
    assert "not valid utf-8 text" in ran.err and "--encoding" in ran.err

    ran = run("import_items", path, "--encoding", "cp1252")
    assert ran.ok, ran.text
    assert Item.objects.get().name == "Café"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_delimiters_are_sniffed(run, write, delimiter):
    content = delimiter.join(["sku", "name", "standard_cost"]) + "\n" + delimiter.join(["K-1", "Knife", "2.5"]) + "\n"

    ran = run("import_items", write("items.csv", content))

    assert ran.ok, ran.text
    assert Item.objects.get().standard_cost == Decimal("2.5")


def test_quoted_newlines_blank_lines_stray_spaces_and_header_spelling(run, write):
    content = (
        "\n  SKU , Item Name ,Shelf Life Days,PERISHABLE,Standard-Cost\r\n"
        "\r\n"
        '  K-1 ,"Knife,\nvery sharp",  ,no,  3 \r\n'
        "   \r\n"
        "K-2,Spoon,7,yes,\r\n"
    )
    content = content.replace("Item Name", "Name")

    ran = run("import_items", write("items.csv", content))

    assert ran.ok, ran.text
    assert list(Item.objects.order_by("sku").values_list("sku", "name", "shelf_life_days", "perishable")) == [
        ("K-1", "Knife,\nvery sharp", None, False),
        ("K-2", "Spoon", 7, True),
    ]


def test_row_numbers_count_blank_lines_and_multi_line_cells_like_a_spreadsheet(run, write):
    content = 'sku,name,unit\nK-1,"two\nlines",each\n\nK-2,Bad,pcs\n'

    ran = run("import_items", write("items.csv", content))

    assert not ran.ok
    assert "Row 4, column unit ('pcs'): there is no unit 'pcs' (known units: box12, cm, dozen, each" in ran.err


def test_duplicate_skus_name_both_rows(run, write):
    ran = run("import_items", write("items.csv", "sku,name\nK-1,One\nK-2,Two\nk-1,Again\n"))

    assert not ran.ok
    assert "Row 4, column sku ('k-1'): SKU 'k-1' is on rows 2 and 4 (SKUs are compared ignoring case)" in ran.err
    assert not Item.objects.exists()


def test_unknown_category_is_an_error_or_created_on_request(run, write):
    path = write("items.csv", "sku,name,category\nK-1,Knife,Home > Kitchen > Knives\n")

    ran = run("import_items", path)
    assert not ran.ok
    assert "there is no category 'Home > Kitchen > Knives'" in ran.err and "--create-categories" in ran.err
    assert not Category.objects.exists()

    ran = run("import_items", path, "--create-categories")
    assert ran.ok, ran.text
    assert Item.objects.get().category.path == "Home > Kitchen > Knives"
    assert Category.objects.count() == 3


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("barcodes", "4006381333932", "'4006381333932' has a wrong check digit (expected 1)."),
        ("barcodes", "4.00638E+12", "is a number a spreadsheet reformatted: format the column as text"),
        ("standard_cost", "1,000", "'1,000' is ambiguous"),
        ("standard_cost", "12.34567", "has more than 4 decimal places"),
        ("standard_cost", "abc", "'abc' is not a number"),
        ("weight_kg", "1e3", "is in scientific notation"),
        ("perishable", "maybe", "'maybe' is not yes or no (write true/false, yes/no or 1/0)."),
        ("status", "gone", "'gone' is not one of: active, discontinued."),
        ("tracking", "batch", "'batch' is not one of: lot, none, serial."),
        ("shelf_life_days", "2.5", "'2.5' is not a whole number."),
        ("purchase_factor", "0", "must be greater than zero"),
        ("unit", "pcs", "there is no unit 'pcs'"),
        ("category", "Home >> Knives", "has an empty part"),
        ("name", "x" * 201, "is 201 characters long; at most 200 fit."),
    ],
)
def test_bad_cells_get_a_message_naming_row_and_column(run, write, column, value, message):
    path = write("items.csv", f"sku,name,{column}\nK-1,Knife,OK\n".replace(",OK", "") + f'K-2,Knife,"{value}"\n')
    if column == "name":
        path = write("items.csv", f'sku,name\nK-2,"{value}"\n')

    ran = run("import_items", path)

    assert not ran.ok
    assert f"column {column}" in ran.err
    assert message in ran.err
    assert not Item.objects.exists()


def test_decimal_comma_and_empty_optional_cells(run, write):
    ran = run("import_items", write("items.csv", "sku;name;standard_cost;weight_kg;description\nK-1;Knife;12,5;;\n"))

    assert ran.ok, ran.text
    item = Item.objects.get()
    assert (item.standard_cost, item.weight_kg, item.description) == (Decimal("12.5"), None, "")


def test_unknown_columns_are_warned_and_ignored(run, write):
    ran = run("import_items", write("items.csv", "sku,name,colour,Size\nK-1,Knife,red,XL\n"))

    assert ran.ok, ran.text
    assert "Warning: Column 'colour' is not known and is ignored." in ran.err
    assert "Warning: Column 'Size' is not known and is ignored." in ran.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty: it has no header row and no data."),
        (b"\r\n\r\n  \n", "The file is empty"),
        (b"sku,name\r\n\r\n", "The file has a header row but no data rows: nothing to import."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not a CSV or XLSX table: it looks like a PNG image."),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "it looks like a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "an old Excel (.xls)"),
        (bytes(range(256)) * 4, "is not a text file (it holds binary data)"),
        (b"name,unit\nKnife,each\n", "The file has no 'sku' column (its columns: name, unit)."),
        (b"sku,name,SKU\nK-1,Knife,K-1\n", "Two columns are 'sku' (columns 1 and 3): keep one."),
        (
            b'sku,name\nK-1,"unterminated\nK-2,Two\n',
            'Row 2: a quoted cell is never closed (a " without its closing ").',
        ),
        (b'sku,name\nK-1,"closed"late\n', "Row 2: the CSV cannot be read"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "header-only",
        "png",
        "pdf",
        "xls",
        "binary",
        "no-sku",
        "two-sku",
        "open-quote",
        "stray-quote",
    ],
)
def test_files_that_are_not_tables_get_a_clear_message(run, write, content, message):
    path = write("items.csv", content)

    ran = run("import_items", path)

    assert not ran.ok
    assert message in ran.err
    assert path.with_name("items.errors.csv").exists()
    assert not Item.objects.exists()


def test_a_workbook_given_as_csv_is_read_as_a_workbook(run, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["SKU", "Name", "Perishable", "Shelf life days", "Standard cost", "Barcodes"])
    sheet.append([12345, "Numeric SKU", True, 30, 2.5, 4006381333931])
    sheet.append([None, None, None, None, None, None])
    sheet.append(["K-2", "  Knife  ", False, None, 3, None])
    path = tmp_path / "items.csv"
    book.save(path)

    ran = run("import_items", path)

    assert ran.ok, ran.text
    assert list(Item.objects.order_by("sku").values_list("sku", "name", "perishable", "shelf_life_days")) == [
        ("12345", "Numeric SKU", True, 30),
        ("K-2", "Knife", False, None),
    ]
    assert Item.objects.get(sku="12345").barcodes.get().code == "4006381333931"
    assert "XLSX" in ran.out


def test_a_text_file_given_as_xlsx_is_explained(run, write):
    ran = run("import_items", write("items.xlsx", "sku,name\nK-1,Knife\n"))

    assert not ran.ok
    assert "not an XLSX workbook (it looks like text): import it as CSV" in ran.err
    assert run("import_items", write("items.txt", "sku,name\nK-1,Knife\n"), "--format", "csv").ok


def test_reading_streams_with_bounded_memory(tmp_path):
    """Reading a file keeps one row at a time: the peak does not grow with the file."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("sku,name,description\n")
        for n in range(30_000):
            handle.write(f"SKU-{n:06d},Item number {n},{'x' * 250}\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with open_path(path, known=("sku", "name", "description")) as table:
            count = sum(1 for _, cells in table.rows() if raw_row(cells, [("sku", 0), ("name", 1)]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 30_000
    assert size > 8_000_000
    assert peak < 4_000_000, f"peak {peak} bytes while reading a {size}-byte file"


def test_open_table_reads_from_any_binary_stream():
    from catalog.importing.reading import open_table

    with open_table(io.BytesIO(b"a;b\n1;2\n"), known=("a", "b")) as table:
        assert (table.headers, list(table.rows()), table.delimiter) == (["a", "b"], [(2, ["1", "2"])], ";")


def test_a_missing_file_is_named(run, tmp_path):
    ran = run("import_items", tmp_path / "nowhere" / "items.csv")

    assert not ran.ok
    assert "No file" in ran.err and "items.csv" in ran.err

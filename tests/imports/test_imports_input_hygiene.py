"""Imports and the input-hygiene rule (issue 12, finding 3): a NUL character (or a lone
surrogate) in a cell is a row error naming the row and the column, for every import, from the
command and from the admin; nothing is written. Before, a NUL past the first 8 KB of a CSV (the
binary sniffing reads only those) reached the database: PostgreSQL refused it with a ValueError
that no one caught (a traceback from the command, a 500 in the admin)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from catalog.importing.runner import row_text_errors
from catalog.models import Category, Item, Location, Warehouse
from stock.models import Movement

# 800 rows of 15 to 30 bytes: over the 8 KB the binary sniffing reads, so the file is text.
PADDING_ROWS = 800

CASES = {
    # command: (header, a good row with {n}, the bad row, the bad column, the bad row's number)
    "import_items": ("sku,name", "K-{n},Knife {n}", "K-BAD,Kni\x00fe", "name"),
    "import_categories": ("path", "Home > Kitchen > Shelf {n}", "Home > Bad\x00", "path"),
    "import_locations": ("warehouse,code,name", "AMS,B-{n},Bin {n}", "AMS,B-BAD,Bin\x00", "name"),
    "import_opening_balances": ("sku,warehouse,location,quantity", "K-{n},AMS,B-1,1", "K-1,AMS,B-1\x00,1", "location"),
}


def _csv(command: str) -> tuple[str, str]:
    header, good, bad, column = CASES[command]
    rows = [header] + [good.format(n=n) for n in range(1, PADDING_ROWS + 1)] + [bad]
    return "\n".join(rows) + "\n", column


@pytest.mark.parametrize("command", sorted(CASES))
def test_a_nul_in_a_cell_is_a_row_error_naming_row_and_column(run, write, command):
    content, column = _csv(command)
    assert content.index("\x00") > 8192  # past the binary sniffing
    before = (Item.objects.count(), Category.objects.count(), Location.objects.count(), Movement.objects.count())

    ran = run(command, write("data.csv", content))

    assert not ran.ok
    bad_row = PADDING_ROWS + 2  # the header is row 1, the padding rows 2..801, the bad row 802
    assert f"Row {bad_row}, column {column}" in ran.err
    assert "contains a NUL character" in ran.err
    assert "\x00" not in ran.err  # shown escaped, as \x00
    after = (Item.objects.count(), Category.objects.count(), Location.objects.count(), Movement.objects.count())
    assert after == before  # nothing written: not the 800 good rows either


def test_the_admin_import_shows_the_row_error_instead_of_a_500(units, admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    content, _ = _csv("import_items")
    upload = SimpleUploadedFile("items.csv", content.encode(), content_type="text/csv")

    preview = client.post(reverse("admin:catalog_item_import"), {"resource": "0", "format": "0", "import_file": upload})

    assert preview.status_code == 200
    entry = preview.context["result"].inventory_report[-1]
    assert (entry["row"], entry["status"]) == (PADDING_ROWS + 2, "error")
    assert any(d.startswith("column name:") and "contains a NUL character" in d for d in entry["details"])
    assert "confirm_form" not in preview.context
    assert not Item.objects.exists()
    assert not Warehouse.objects.filter(code="NOPE").exists()


def test_row_text_errors_name_each_bad_cell_and_escape_it():
    errors = row_text_errors({"sku": "OK", "name": "a\x00b", "description": "x\ud800"}, row=7)
    assert [(e.row, e.column) for e in errors] == [(7, "name"), (7, "description")]
    assert errors[0].value == "a\\x00b"
    assert errors[1].value == "x\\ud800"  # printable: the report CSV and the page can show it
    assert "U+D800" in errors[1].message
    assert row_text_errors({"sku": "OK"}, row=1) == []


def test_a_category_path_longer_than_its_column_is_a_row_error(run, write):
    # 9 names of 115 characters joined by " > ": 9 * 115 + 8 * 3 = 1,059 characters; the
    # stored path holds 1,000. Before, PostgreSQL refused the write (the command's "database
    # refused rows" at best); now the cell is refused before the database sees it.
    path = " > ".join(f"{n}" + "x" * 114 for n in range(1, 10))
    assert len(path) == 1059

    ran = run("import_categories", write("categories.csv", f'path\n"{path}"\n'))

    assert not ran.ok
    assert "Row 2, column path" in ran.err
    assert "is 1059 characters long; at most 1000 fit" in ran.err
    assert not Category.objects.exists()

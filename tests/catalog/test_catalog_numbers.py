"""One reading of typed numbers for every door (common.numbers, docs/api.md "Numbers"): the
API, the clerk pages and the imports read the same text as the same number, and refuse the
same ambiguous ones ("1,000", "1_000") with a message instead of guessing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from catalog.importing import cells
from common.numbers import NumberError, parse_decimal
from stock.floor.scanning import FloorError, parse_quantity


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", Decimal("12")),
        (" 2.5 ", Decimal("2.5")),  # surrounding white space is ignored
        ("2,5", Decimal("2.5")),  # a single decimal comma, as people type
        ("1,0005", Decimal("1.0005")),  # four digits after the comma: not a thousands group
        ("1234,567", Decimal("1234.567")),  # 1234 is no valid first group: a decimal comma
        (".5", Decimal("0.5")),
        ("-3", Decimal("-3")),
        ("1.000", Decimal("1")),  # a dot is always the decimal mark
    ],
)
def test_what_every_door_reads(text, number):
    assert parse_decimal(text) == number


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        ("1,000", NumberError.AMBIGUOUS, "'1,000' is ambiguous"),
        ("-12,500", NumberError.AMBIGUOUS, "'-12,500' is ambiguous"),
        ("1_000", NumberError.NOT_A_NUMBER, "'1_000' is not a number"),
        ("1.000,5", NumberError.NOT_A_NUMBER, "without thousands separators"),
        ("1 000", NumberError.NOT_A_NUMBER, "without thousands separators"),
        ("1e3", NumberError.NOT_A_NUMBER, "scientific notation"),
        ("NaN", NumberError.NOT_A_NUMBER, "'NaN' is not a number"),
        ("Infinity", NumberError.NOT_A_NUMBER, "'Infinity' is not a number"),
        ("1.23456", NumberError.PLACES, "more than 4 decimal places"),
        ("1" + "0" * 14, NumberError.TOO_LARGE, "is too large"),
        ("", NumberError.NOT_A_NUMBER, "is empty"),
        ("\u0661\u0662", NumberError.NOT_A_NUMBER, "is not a number"),  # Arabic-Indic 12: Python's \d takes it
        ("\uff11\uff10", NumberError.NOT_A_NUMBER, "is not a number"),  # full-width 10
    ],
)
def test_what_every_door_refuses_and_why(text, reason, message):
    with pytest.raises(NumberError) as refused:
        parse_decimal(text)
    assert refused.value.reason == reason
    assert message in str(refused.value)


def test_the_canonical_form_refuses_a_decimal_comma_instead_of_reading_it():
    with pytest.raises(NumberError, match="use a dot as the decimal mark"):
        parse_decimal("2,5", decimal_comma=False)
    assert parse_decimal("2.5", decimal_comma=False) == Decimal("2.5")


@pytest.mark.parametrize("text", ["+1", " 1", "1 ", "\t2.5"])
def test_the_canonical_form_refuses_a_plus_sign_and_spaces_its_schema_does_not_allow(text):
    # The API's pattern is ^-?\d{0,14}(?:\.\d{0,4})?$: no plus sign, nothing around the digits.
    with pytest.raises(NumberError, match="write digits, an optional minus sign and a dot"):
        parse_decimal(text, decimal_comma=False)
    assert parse_decimal(text) == Decimal(text.strip())  # where people type, both are forgiven


# --- The doors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1,000", "1_000"])
def test_the_floor_refuses_what_the_imports_refuse(text):
    # Before: the floor read "1,000" as 1 (a decimal comma) and "1_000" was refused by its pattern.
    with pytest.raises(FloorError):
        parse_quantity(text)
    with pytest.raises(cells.CellError):
        cells.decimal(text)


def test_the_floor_says_why_one_comma_thousand_is_refused():
    with pytest.raises(FloorError, match="'1,000' is ambiguous: write one thousand as 1000"):
        parse_quantity("1,000")


def test_the_floor_and_the_imports_read_a_decimal_comma_alike():
    assert parse_quantity("2,5") == cells.decimal("2,5") == Decimal("2.5")


def test_the_imports_refuse_a_spreadsheet_space_grouping():
    # Before: the imports stripped the space and read 1000; one rule now: no separators at all.
    with pytest.raises(cells.CellError, match="without thousands separators"):
        cells.decimal("1 000")


@pytest.mark.parametrize(
    ("text", "message"),
    [("1_000", "'1_000' is not a number"), ("1e3", "scientific notation"), ("1,000", "'1,000' is ambiguous")],
)
def test_the_admin_forms_refuse_what_the_other_doors_refuse(db, rf, text, message):
    # Before: Django's DecimalField read "1_000" and "1e3" as one thousand (Python's Decimal does).
    from django.contrib import admin
    from django.contrib.auth.models import User

    from catalog.models import Item

    request = rf.get("/admin/catalog/item/add/")
    request.user = User.objects.create_superuser("root-numbers")
    field = admin.site._registry[Item].get_form(request).base_fields["standard_cost"]

    with pytest.raises(ValidationError, match=message):
        field.clean(text)
    assert field.clean("12,5") == field.clean("12.5") == Decimal("12.5")

"""Barcodes: GTIN check digits, free internal codes, one item per code."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Barcode, BarcodeKind

pytestmark = pytest.mark.django_db

VALID_GTINS = {
    "GTIN-8": "96385074",
    "GTIN-12 (UPC-A)": "036000291452",
    "GTIN-13 (EAN-13)": "4006381333931",
    "GTIN-14": "10614141000415",
}


def _save(barcode: Barcode) -> Barcode:
    barcode.full_clean()
    barcode.save()
    return barcode


@pytest.mark.parametrize("code", VALID_GTINS.values(), ids=VALID_GTINS.keys())
def test_gtin_with_a_valid_check_digit_is_accepted(make_item, code):
    barcode = _save(Barcode(item=make_item(), code=f" {code[:4]} {code[4:]} "))

    barcode.refresh_from_db()
    assert barcode.code == code  # spaces a scanner or a typist adds are removed


@pytest.mark.parametrize("code", VALID_GTINS.values(), ids=VALID_GTINS.keys())
def test_gtin_with_a_wrong_check_digit_is_refused_naming_the_expected_digit(make_item, code):
    expected = code[-1]
    wrong = code[:-1] + str((int(expected) + 1) % 10)

    with pytest.raises(ValidationError) as excinfo:
        _save(Barcode(item=make_item(), code=wrong))

    assert excinfo.value.message_dict["code"] == [f"'{wrong}' has a wrong check digit (expected {expected})."]
    assert not Barcode.objects.exists()


@pytest.mark.parametrize("code", ["1234567", "12345678901", "123456789012345", "40063813339X1"])
def test_gtin_of_the_wrong_length_or_with_letters_is_refused(make_item, code):
    with pytest.raises(ValidationError) as excinfo:
        _save(Barcode(item=make_item(), code=code))

    assert "a GTIN has 8, 12, 13 or 14 digits" in excinfo.value.message_dict["code"][0]
    assert not Barcode.objects.exists()


@pytest.mark.parametrize("code", ["SHELF-7", "4006381333932", "x"])
def test_internal_codes_are_free_text(make_item, code):
    barcode = _save(Barcode(item=make_item(), code=code, kind=BarcodeKind.INTERNAL))

    assert Barcode.objects.get(pk=barcode.pk).code == code


def test_empty_code_is_refused(make_item):
    with pytest.raises(ValidationError):
        _save(Barcode(item=make_item(), code="  ", kind=BarcodeKind.INTERNAL))

    with pytest.raises(IntegrityError), transaction.atomic():
        Barcode.objects.create(item=make_item(), code="", kind=BarcodeKind.INTERNAL)

    assert not Barcode.objects.exists()


def test_a_code_belongs_to_one_item_only(make_item):
    first, second = make_item(), make_item()
    _save(Barcode(item=first, code="4006381333931"))

    with pytest.raises(ValidationError) as excinfo:
        _save(Barcode(item=second, code=" 4006381333931"))
    assert "code" in excinfo.value.message_dict

    with pytest.raises(IntegrityError), transaction.atomic():
        Barcode.objects.create(item=second, code="4006381333931")

    assert list(Barcode.objects.values_list("item", flat=True)) == [first.pk]
    assert not second.barcodes.exists()


def test_an_item_may_have_several_codes(make_item):
    item = make_item()
    _save(Barcode(item=item, code="4006381333931"))
    _save(Barcode(item=item, code="96385074"))
    _save(Barcode(item=item, code="BIN-LABEL-1", kind=BarcodeKind.INTERNAL))

    assert item.barcodes.count() == 3

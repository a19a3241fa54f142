"""Warehouses and locations: virtual locations, warehouse membership, code uniqueness."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Location, LocationKind, LocationLevel, Warehouse

pytestmark = pytest.mark.django_db

VIRTUAL = {
    "SUPPLIER": LocationKind.SUPPLIER,
    "CUSTOMER": LocationKind.CUSTOMER,
    "INVENTORY-ADJ": LocationKind.INVENTORY_ADJUSTMENT,
    "SCRAP": LocationKind.SCRAP,
    "TRANSIT": LocationKind.TRANSIT,
}


def _save(obj):
    obj.full_clean()
    obj.save()
    return obj


@pytest.fixture
def ams() -> Warehouse:
    return _save(Warehouse(code="ams", name="Amsterdam main DC", time_zone="Europe/Amsterdam"))


@pytest.fixture
def rtm() -> Warehouse:
    return _save(Warehouse(code="RTM", name="Rotterdam city hub", time_zone="Europe/Amsterdam"))


def test_virtual_locations_exist_after_migrations():
    virtual = Location.objects.filter(warehouse__isnull=True)

    assert dict(virtual.values_list("code", "kind")) == VIRTUAL
    for code, kind in VIRTUAL.items():
        assert Location.objects.virtual(kind).code == code
    assert not Location.objects.internal().exists()


def test_warehouse_code_is_upper_case_and_time_zone_must_exist(ams):
    assert ams.code == "AMS"

    with pytest.raises(ValidationError) as excinfo:
        _save(Warehouse(code="BER", name="Berlin", time_zone="Europe/Atlantis"))
    assert "time_zone" in excinfo.value.message_dict
    assert not Warehouse.objects.filter(code="BER").exists()


def test_internal_location_needs_a_warehouse():
    location = Location(code="A-01-01", kind=LocationKind.INTERNAL)

    with pytest.raises(ValidationError) as excinfo:
        location.full_clean()
    assert excinfo.value.message_dict["warehouse"] == ["An internal location belongs to a warehouse."]

    with pytest.raises(IntegrityError), transaction.atomic():
        location.save()
    assert not Location.objects.internal().exists()


def test_virtual_location_cannot_belong_to_a_warehouse(ams):
    location = Location(code="SCRAP-2", kind=LocationKind.SCRAP, warehouse=ams)

    with pytest.raises(ValidationError) as excinfo:
        location.full_clean()
    assert excinfo.value.message_dict["warehouse"] == ["Virtual locations belong to no warehouse."]

    with pytest.raises(IntegrityError), transaction.atomic():
        location.save()
    assert not Location.objects.filter(code="SCRAP-2").exists()


def test_code_is_unique_within_a_warehouse_but_may_repeat_across_warehouses(ams, rtm):
    _save(Location(warehouse=ams, code="a-01-03 "))
    _save(Location(warehouse=rtm, code="A-01-03"))

    with pytest.raises(ValidationError):
        _save(Location(warehouse=ams, code="A-01-03"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Location.objects.create(warehouse=ams, code="A-01-03")

    assert sorted(Location.objects.filter(code="A-01-03").values_list("warehouse__code", flat=True)) == ["AMS", "RTM"]


def test_virtual_location_codes_are_unique():
    with pytest.raises(IntegrityError), transaction.atomic():
        Location.objects.create(code="SCRAP", kind=LocationKind.SCRAP)

    assert Location.objects.filter(code="SCRAP").count() == 1


def test_location_barcodes_are_unique_across_warehouses(ams, rtm):
    _save(Location(warehouse=ams, code="A-01-01", barcode="LOC-A-01-01"))

    with pytest.raises(ValidationError) as excinfo:
        _save(Location(warehouse=rtm, code="A-01-01", barcode="LOC-A-01-01"))
    assert "barcode" in excinfo.value.message_dict
    assert Location.objects.filter(barcode="LOC-A-01-01").count() == 1


def test_parent_must_be_in_the_same_warehouse(ams, rtm):
    zone = _save(Location(warehouse=ams, code="A", level=LocationLevel.ZONE))

    with pytest.raises(ValidationError) as excinfo:
        _save(Location(warehouse=rtm, code="A-01", level=LocationLevel.AISLE, parent=zone))
    assert excinfo.value.message_dict["parent"] == ["The parent location must be in the same warehouse."]


def test_descendant_ids_cover_the_whole_subtree(ams):
    zone = _save(Location(warehouse=ams, code="A", level=LocationLevel.ZONE))
    aisle = _save(Location(warehouse=ams, code="A-01", level=LocationLevel.AISLE, parent=zone))
    bins = [_save(Location(warehouse=ams, code=f"A-01-0{n}", parent=aisle)) for n in (1, 2)]
    other = _save(Location(warehouse=ams, code="B", level=LocationLevel.ZONE))

    ids = zone.descendant_ids()
    assert sorted(ids) == sorted([zone.pk, aisle.pk, *(b.pk for b in bins)])
    assert other.pk not in ids

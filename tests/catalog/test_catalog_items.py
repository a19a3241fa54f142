"""Items: SKU normalisation and uniqueness, valuation defaults, unit factors, discontinuing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Barcode, Category, Item, ItemStatus, ValuationMethod
from catalog.services import category_get_or_create_path, category_save, item_save, items_discontinue

pytestmark = pytest.mark.django_db


def test_sku_is_stored_without_surrounding_whitespace(make_item):
    item = make_item(sku="  knf-001 \t")

    item.refresh_from_db()
    assert item.sku == "knf-001"
    assert Item.objects.by_sku(" KNF-001 ").get() == item


def test_sku_that_differs_only_in_case_is_refused_by_validation(make_item, units):
    make_item(sku="KNF-001")
    duplicate = Item(sku=" knf-001 ", name="Another knife", base_unit=units["each"])

    with pytest.raises(ValidationError) as excinfo:
        item_save(item=duplicate)

    assert excinfo.value.message_dict["sku"] == ["SKU 'knf-001' already exists (SKUs are compared ignoring case)."]
    assert duplicate.pk is None
    assert Item.objects.count() == 1


def test_sku_that_differs_only_in_case_is_refused_by_the_database(make_item, units):
    make_item(sku="KNF-001")

    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(sku="knf-001", name="Bypassing validation", base_unit=units["each"])

    assert list(Item.objects.values_list("sku", flat=True)) == ["KNF-001"]


def test_empty_sku_is_refused_by_validation_and_database(units):
    with pytest.raises(ValidationError) as excinfo:
        item_save(item=Item(sku="   ", name="No SKU", base_unit=units["each"]))
    assert "sku" in excinfo.value.message_dict

    with pytest.raises(IntegrityError), transaction.atomic():
        Item.objects.create(sku="", name="No SKU", base_unit=units["each"])

    assert not Item.objects.exists()


def test_valuation_method_defaults_from_the_nearest_category_that_sets_one(make_item):
    food = category_save(category=Category(name="Food", valuation_method=ValuationMethod.FIFO))
    coffee = category_get_or_create_path(path="Food > Coffee > Beans")
    assert coffee.valuation_method == ""

    beans = make_item(category=coffee)
    loose = make_item(category=food, valuation_method=ValuationMethod.MOVING_AVERAGE)
    uncategorised = make_item()

    assert beans.valuation_method == ValuationMethod.FIFO
    assert loose.valuation_method == ValuationMethod.MOVING_AVERAGE  # explicit choice kept
    assert uncategorised.valuation_method == ValuationMethod.MOVING_AVERAGE


def test_changing_the_category_method_later_does_not_change_existing_items(make_item):
    food = category_save(category=Category(name="Food", valuation_method=ValuationMethod.FIFO))
    item = make_item(category=food)

    food.valuation_method = ValuationMethod.MOVING_AVERAGE
    category_save(category=food)

    item.refresh_from_db()
    assert item.valuation_method == ValuationMethod.FIFO


def test_perishable_item_needs_a_shelf_life(units):
    with pytest.raises(ValidationError) as excinfo:
        item_save(item=Item(sku="COF-001", name="Espresso beans", base_unit=units["each"], perishable=True))

    assert "shelf_life_days" in excinfo.value.message_dict
    assert not Item.objects.exists()


def test_purchase_factor_effective_by_conversion_and_by_explicit_factor(make_item, units):
    cables = make_item(purchase_unit=units["box12"])
    socks = make_item(base_unit=units["pair"], purchase_unit=units["box12"], purchase_factor=Decimal(12))
    loose_coffee = make_item(base_unit=units["kg"], sales_unit=units["g"])
    no_purchase_unit = make_item()

    assert cables.purchase_factor_effective == 12
    assert socks.purchase_factor_effective == 12  # 12 pairs per box: the explicit factor wins over 12/2
    assert loose_coffee.sales_factor_effective == Decimal("0.001")
    assert no_purchase_unit.purchase_factor_effective is None


def test_purchase_unit_of_another_dimension_needs_an_explicit_factor(make_item, units):
    with pytest.raises(ValidationError) as excinfo:
        make_item(sku="SACK-1", purchase_unit=units["kg"])

    assert excinfo.value.message_dict["purchase_factor"] == [
        "kg does not convert to each: give the number of each in one kg."
    ]
    assert not Item.objects.filter(sku="SACK-1").exists()

    item = make_item(sku="SACK-2", purchase_unit=units["kg"], purchase_factor=Decimal(4))
    assert item.purchase_factor_effective == 4


def test_items_discontinue_changes_active_items_only_and_records_the_actor(make_item):
    actor = get_user_model().objects.create_user("manager-test")
    active = make_item()
    already = make_item(status=ItemStatus.DISCONTINUED, discontinued_on=date(2025, 1, 31))

    changed = items_discontinue(items=[active, already], on=date(2026, 3, 1), actor=actor)

    assert changed == 1
    active.refresh_from_db()
    already.refresh_from_db()
    assert (active.status, active.discontinued_on) == (ItemStatus.DISCONTINUED, date(2026, 3, 1))
    assert already.discontinued_on == date(2025, 1, 31)  # keeps its date
    assert active.history.latest().history_user == actor
    assert already.history.count() == 1  # only its creation: no record for an item not changed


def test_deleting_a_user_clears_them_from_item_and_barcode_history(make_item):
    """The history's user column has no database foreign key (docs/imports.md): Django's
    ``SET_NULL`` still clears it, so no history record names a user that does not exist."""
    user = get_user_model().objects.create_user("leaving", password="x")
    item = Item(sku="HIST-1", name="Tracked", base_unit=make_item().base_unit)
    item._history_user = user
    item = item_save(item=item)
    barcode = Barcode(item=item, code="HIST-CODE", kind="internal")
    barcode._history_user = user
    barcode.save()
    assert item.history.get().history_user == user == barcode.history.get().history_user

    user.delete()

    assert item.history.get().history_user_id is None
    assert barcode.history.get().history_user_id is None
    assert Item.history.filter(sku="HIST-1").count() == 1  # the record stays, without its user

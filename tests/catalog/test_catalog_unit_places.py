"""Units' decimal places (issue 12, finding 4): the migration on old rows, existing stock finer
than its unit on the data-quality page and in ``reconcile``, and a unit that cannot lose places
its stock uses."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog.models import Location, UnitOfMeasure, Warehouse
from catalog.selectors import DataProblemKind, data_quality_problems
from stock.models import StockLevel
from stock.reconciliation import Difference, reconcile
from stock.services import stock_issue, stock_receive
from tests.stock.factories import ItemFactory, UnitFactory, ensure_virtual_locations

D = Decimal
UNITS = importlib.import_module("catalog.migrations.0002_virtual_locations_units_roles").UNITS


def with_places(code: str, places: int) -> None:
    """Set a unit's places behind the model's back, as data was before issue 12."""
    UnitOfMeasure.objects.filter(code=code).update(decimal_places=places)


def old_half_headlamps() -> tuple:
    """HDL-001 in each: 2.5 received into AMS/A-01 while each still allowed fractions, then 1
    sold (1.5 left; the customer location holds the 1)."""
    ensure_virtual_locations()
    each = UnitFactory(code="each")
    headlamp = ItemFactory(sku="HDL-001", name="Headlamp", base_unit=each)
    bin_ = Location.objects.create(warehouse=Warehouse.objects.create(code="AMS", name="Amsterdam"), code="A-01")
    with_places("each", 1)
    each.refresh_from_db()
    stock_receive(item=headlamp, location=bin_, quantity=D("2.5"), unit_cost=D(4), actor=None)
    with_places("each", 0)
    each.refresh_from_db()
    stock_issue(item=headlamp, location=bin_, quantity=D(1), actor=None)
    return headlamp, bin_


def finer_problems() -> list[tuple[str, str]]:
    return [(p.label, p.message) for p in data_quality_problems() if p.kind == DataProblemKind.QUANTITY_FINER_THAN_UNIT]


@pytest.mark.django_db(transaction=True)
def test_the_migration_sets_places_by_unit_and_keeps_old_half_units_for_the_reports():
    # Real commits (SQLite cannot alter tables inside a transaction); a transactional test may
    # start after another one flushed the data migrations' units, so make sure they exist.
    for code, name, dimension, ratio in UNITS:
        UnitOfMeasure.objects.get_or_create(code=code, defaults={"name": name, "dimension": dimension, "ratio": ratio})
    headlamp, bin_ = old_half_headlamps()
    UnitOfMeasure.objects.create(code="sack", name="Sack", dimension="mass")  # unknown code: by dimension
    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", "0006_warehouse_access_change")])  # before units had places
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()

    executor.migrate(executor.loader.graph.leaf_nodes())  # and forward again, over the old rows

    places = dict(UnitOfMeasure.objects.values_list("code", "decimal_places"))
    assert {code: places[code] for code in ("each", "box12", "kg", "g", "l", "m", "sack")} == {
        "each": 0,
        "box12": 0,
        "kg": 3,
        "g": 0,
        "l": 3,
        "m": 2,
        "sack": 3,  # mass
    }
    assert StockLevel.objects.get(item=headlamp, location=bin_).on_hand == D("1.5")  # 2.5 - 1: never rounded
    assert finer_problems() == [
        (
            "HDL-001 Headlamp",
            "Counted in whole units (each), but 1 stock level and 1 movement hold finer quantities: "
            "reverse those movements or adjust the stock to whole units.",
        )
    ]
    assert [d for d in reconcile() if d.check == "quantity_finer_than_unit"] == [
        Difference("quantity_finer_than_unit", "HDL-001", "AMS/A-01", "", expected=D(2), found=D("1.5"))
    ]


@pytest.mark.django_db
def test_reconcile_lists_stock_finer_than_its_unit_as_its_own_kind_and_nothing_else():
    headlamp, bin_ = old_half_headlamps()

    differences = reconcile()

    # 1.5 each rounds (half to even on PostgreSQL and SQLite alike: away from zero) to 2.
    assert differences == [
        Difference("quantity_finer_than_unit", "HDL-001", "AMS/A-01", "", expected=D(2), found=D("1.5"))
    ]


@pytest.mark.django_db
def test_a_ledger_in_whole_units_has_no_finer_quantities():
    ensure_virtual_locations()
    kg = UnitFactory(code="kg", name="Kilogram", dimension="mass", decimal_places=3)
    beans = ItemFactory(sku="BEANS", base_unit=kg)
    bin_ = Location.objects.create(warehouse=Warehouse.objects.create(code="AMS", name="Amsterdam"), code="A-01")
    stock_receive(item=beans, location=bin_, quantity=D("1.25"), unit_cost=D(12), actor=None)

    assert finer_problems() == []
    assert reconcile() == []


@pytest.mark.django_db
def test_a_unit_cannot_lose_places_its_stock_uses():
    old_half_headlamps()
    each = UnitOfMeasure.objects.get(code="each")
    each.decimal_places = 1
    each.full_clean()  # 2.5 and 1.5 have one place: fine
    each.save()

    each.decimal_places = 0
    with pytest.raises(ValidationError) as refused:
        each.full_clean()

    assert refused.value.message_dict == {
        "decimal_places": [
            "each cannot count in whole units: 1 stock level and 1 movement of its items hold finer "
            "quantities. Keep more decimal places, or correct that stock first (the data-quality page lists it)."
        ]
    }


@pytest.mark.django_db
def test_the_admin_refuses_fewer_places_than_the_stock_uses_and_changes_nothing(admin_client):
    old_half_headlamps()
    with_places("each", 1)
    each = UnitOfMeasure.objects.get(code="each")

    response = admin_client.post(
        f"/admin/catalog/unitofmeasure/{each.pk}/change/",
        {"code": "each", "name": each.name, "dimension": "count", "ratio": "1", "decimal_places": "0"},
    )

    assert response.status_code == 200  # the form again, with the error
    assert "1 stock level and 1 movement of its items hold finer quantities" in response.content.decode()
    assert UnitOfMeasure.objects.get(code="each").decimal_places == 1


@pytest.mark.django_db
def test_places_are_at_most_four():
    unit = UnitOfMeasure(code="ct", name="Carat", dimension="mass", decimal_places=5)

    with pytest.raises(ValidationError) as refused:
        unit.full_clean()

    assert list(refused.value.message_dict) == ["decimal_places"]


@pytest.mark.django_db
def test_a_purchase_unit_that_would_be_half_an_each_is_refused():
    each = UnitFactory(code="each")
    box = UnitOfMeasure.objects.create(code="box", name="Box", dimension="count", ratio=None)
    lamp = ItemFactory(sku="HDL-001", base_unit=each)
    lamp.purchase_unit, lamp.purchase_factor = box, D("2.5")

    with pytest.raises(ValidationError) as refused:
        lamp.full_clean()

    assert refused.value.message_dict == {
        "purchase_factor": ["1 box of HDL-001 is 2.5 each, but HDL-001 is counted in whole units (each)."]
    }
    lamp.purchase_factor = D(12)
    lamp.full_clean()  # a box of 12: fine

"""The hot read paths in plain SQL (``common.db.ModelRows``; docs/api.md "Where a sale's time
goes") give what the ORM gives: the same values of the same types on SQLite and PostgreSQL,
related rows attached (no query when they are read), and the ORM's refusals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.db.models.signals import post_init, post_migrate
from django.utils import timezone

from catalog import models as catalog_models
from catalog.models import Item, Location, LocationKind, Warehouse, virtual_rows_forget
from catalog.selectors import item_by_code, warehouse_by_code
from common.db import ModelRows, fetch_rows
from stock.models import Lot, StockLevel
from stock.selectors import stock_available_by_item, stock_levels_available_fefo
from stock.services import stock_receive
from tests.stock.factories import ItemFactory, ensure_virtual_locations

D = Decimal


def _values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def _by_plain_sql(model, pk):
    rows = ModelRows(model)
    table = connection.ops.quote_name(model._meta.db_table)
    return rows.instance(fetch_rows(f"SELECT {rows.columns('x')} FROM {table} x WHERE x.id = %s", [pk])[0])


def test_plain_sql_rows_equal_the_orms_values_and_types(actor, warehouse, bin_a, lot_item):
    expiry = timezone.localdate() + timedelta(days=9)
    stock_receive(
        item=lot_item,
        location=bin_a,
        quantity=D(2),
        unit_cost=D("1.25"),
        actor=actor,
        lot="L-1",
        expiry_date=expiry,
    )
    level = StockLevel.objects.get(item=lot_item, location=bin_a)
    for model, pk in [(StockLevel, level.pk), (Lot, level.lot_id), (Location, bin_a.pk), (Item, lot_item.pk)]:
        orm, plain = model.objects.get(pk=pk), _by_plain_sql(model, pk)
        assert _values(plain) == _values(orm), model
        assert [type(value) for value in _values(plain).values()] == [type(value) for value in _values(orm).values()]
        assert not plain._state.adding
    assert _by_plain_sql(StockLevel, level.pk).on_hand == D("2.0000")  # a Decimal on SQLite too
    assert _by_plain_sql(Lot, level.lot_id).expiry_date == expiry


def test_plain_sql_instances_are_what_from_db_builds_and_init_listeners_are_honoured(actor, bin_a, item):
    """``ModelRows.instance`` fills a plain model directly (no ``__init__``): the instance must
    be the one ``Model.from_db`` builds (values, saved state, database, no cached relations),
    save like one, and a model whose ``post_init`` has a listener must go through ``from_db``
    (the listener runs once per row)."""
    stock_receive(item=item, location=bin_a, quantity=D(3), unit_cost=D(1), actor=actor)
    level = StockLevel.objects.get(item=item, location=bin_a)
    plain = _by_plain_sql(StockLevel, level.pk)
    built = StockLevel.from_db(
        "default", [f.attname for f in StockLevel._meta.concrete_fields], list(_values(plain).values())
    )

    assert _values(plain) == _values(built)
    assert (plain._state.adding, plain._state.db) == (built._state.adding, built._state.db) == (False, "default")
    assert plain._state.fields_cache == {} and plain.location == bin_a  # read on demand, like the ORM's
    plain.allow_negative = True
    plain.save(update_fields=["allow_negative"])  # an UPDATE of the row, not an INSERT
    assert StockLevel.objects.filter(pk=level.pk, allow_negative=True).count() == 1

    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(listener, sender=Lot)
    try:
        lot = Lot.objects.create(item=item, code="L-INIT")
        seen.clear()
        assert _by_plain_sql(Lot, lot.pk).pk == lot.pk
    finally:
        post_init.disconnect(listener, sender=Lot)
    assert seen == [lot.pk]


def test_fefo_levels_come_with_their_location_warehouse_and_lot(
    actor, warehouse, bin_a, lot_item, django_assert_num_queries
):
    stock_receive(
        item=lot_item,
        location=bin_a,
        quantity=D(3),
        unit_cost=D(1),
        actor=actor,
        lot="L-2",
        expiry_date=timezone.localdate() + timedelta(days=3),
    )

    levels = stock_levels_available_fefo(item=lot_item, warehouse=warehouse)

    with django_assert_num_queries(0):
        assert [(lv.location.code, lv.location.warehouse.code, lv.lot.code, lv.available) for lv in levels] == [
            (bin_a.code, warehouse.code, "L-2", D(3))
        ]


def test_available_by_item_is_zero_for_an_item_without_stock_there(actor, warehouse, bin_a, item):
    stock_receive(item=item, location=bin_a, quantity=D(4), unit_cost=D(1), actor=actor)
    other = ItemFactory()

    available = stock_available_by_item(item_ids=[item.pk, other.pk, item.pk], warehouse=warehouse)

    assert available == {item.pk: D(4), other.pk: D(0)}
    assert isinstance(available[item.pk], Decimal)


def test_the_virtual_location_is_the_orms_and_an_unknown_kind_is_refused(virtual_locations):
    customer = Location.objects.virtual(LocationKind.CUSTOMER)
    assert _values(customer) == _values(Location.objects.get(kind=LocationKind.CUSTOMER, warehouse__isnull=True))
    with pytest.raises(Location.DoesNotExist):
        Location.objects.virtual("nowhere")


def test_look_ups_by_code_ignore_case_and_bring_the_base_unit(warehouse, django_assert_num_queries):
    item = ItemFactory(sku="CASE-1")

    found = item_by_code("case-1")

    assert found.pk == item.pk
    with django_assert_num_queries(0):
        assert found.base_unit.code == item.base_unit.code
    assert warehouse_by_code(warehouse.code.lower()).pk == warehouse.pk
    assert isinstance(warehouse_by_code(warehouse.code), Warehouse)
    assert warehouse_by_code("NO-SUCH") is None


def test_the_posting_paths_virtual_location_is_read_once_and_each_caller_gets_its_own(
    virtual_locations, django_assert_num_queries
):
    virtual_rows_forget()
    with django_assert_num_queries(1):
        first = Location.objects.virtual(LocationKind.CUSTOMER, cached=True)
    with django_assert_num_queries(0):
        second = Location.objects.virtual(LocationKind.CUSTOMER, cached=True)
    assert _values(second) == _values(first) == _values(virtual_locations["customer"])
    assert second is not first  # a caller changing its instance changes no other's
    with django_assert_num_queries(1):  # without cached=True: read as before
        Location.objects.virtual(LocationKind.CUSTOMER)


def test_a_saved_or_deleted_virtual_location_and_a_migrated_database_are_read_again(
    virtual_locations, warehouse, django_assert_num_queries
):
    customer = virtual_locations["customer"]
    Location.objects.virtual(LocationKind.CUSTOMER, cached=True)
    Location.objects.create(warehouse=warehouse, code="BIN-NEW")  # in a warehouse: the cache stays
    with django_assert_num_queries(0):
        Location.objects.virtual(LocationKind.CUSTOMER, cached=True)

    customer.name = "Customers (renamed)"
    customer.save()
    assert Location.objects.virtual(LocationKind.CUSTOMER, cached=True).name == "Customers (renamed)"

    customer.delete()  # no movement names it in this test
    recreated = ensure_virtual_locations()["customer"]  # a new row, a new primary key
    assert recreated.pk != customer.pk
    assert Location.objects.virtual(LocationKind.CUSTOMER, cached=True).pk == recreated.pk

    catalog = apps.get_app_config("catalog")  # a new or flushed database (the tests' own)
    post_migrate.send(sender=catalog, app_config=catalog, verbosity=0, interactive=False, using="default", plan=[])
    with django_assert_num_queries(1):
        Location.objects.virtual(LocationKind.CUSTOMER, cached=True)


def test_the_cached_virtual_location_is_read_again_after_its_time_to_live(
    virtual_locations, monkeypatch, django_assert_num_queries
):
    """A rename by another process (no signal here: plain SQL stands for it) shows within the TTL."""
    Location.objects.virtual(LocationKind.CUSTOMER, cached=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_location SET name = 'Elsewhere' WHERE id = %s", [virtual_locations["customer"].pk]
        )
    assert Location.objects.virtual(LocationKind.CUSTOMER, cached=True).name != "Elsewhere"  # within the TTL
    monkeypatch.setattr(catalog_models, "VIRTUAL_ROWS_TTL", 0.0)
    with django_assert_num_queries(1):
        assert Location.objects.virtual(LocationKind.CUSTOMER, cached=True).name == "Elsewhere"

"""Catalog test fixtures: units from the migrations, an item factory, the demo data."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction

from catalog.demo import seed_demo
from catalog.models import Item, UnitOfMeasure
from catalog.services import item_save


@pytest.fixture
def units(db: None) -> dict[str, UnitOfMeasure]:
    """The units created by migration catalog/0002, by code."""
    return {unit.code: unit for unit in UnitOfMeasure.objects.all()}


@pytest.fixture
def make_item(units: dict[str, UnitOfMeasure]) -> Callable[..., Item]:
    """Create an item through ``item_save``; SKU, name and base unit (each) default."""
    numbers = itertools.count(1)

    def make(**fields: Any) -> Item:
        number = next(numbers)
        fields.setdefault("sku", f"TEST-{number:03d}")
        fields.setdefault("name", f"Test item {number}")
        fields.setdefault("base_unit", units["each"])
        return item_save(item=Item(**fields))

    return make


@pytest.fixture(scope="module")
def demo_data(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, dict[str, int]]]:
    """``seed_demo()`` once per test module, inside a transaction rolled back after the module's
    last test. Tests take ``db`` as usual: their own transactions nest as savepoints."""
    with django_db_blocker.unblock(), transaction.atomic():
        report = seed_demo()
        yield report
        transaction.set_rollback(True)

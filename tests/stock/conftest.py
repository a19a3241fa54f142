"""Shared fixtures of the stock tests (tests/stock/*).

The world every stock test starts from, and nothing more: no stock. Stock comes only from
postings through ``stock.services``, so each test says how much it has and at what cost.

- ``actor``: a user (username ``clerk``) to pass as ``actor=``;
- ``warehouse``: warehouse ``WH1``; ``other_warehouse``: warehouse ``WH2``; neither allows
  negative stock;
- ``bin_a``, ``bin_b``: internal bins ``A-01`` and ``A-02`` in ``warehouse`` (FEFO breaks ties
  by location code, so ``bin_a`` comes first); ``bin_c``: internal bin ``B-01`` in
  ``other_warehouse``;
- ``item``: ``WIDGET``, untracked, moving average, standard cost 0;
- ``fifo_item``: ``BOLT``, untracked, FIFO, standard cost 0;
- ``lot_item``: ``MILK``, lot-tracked, perishable with 30 days of shelf life, moving average;
- ``virtual``: ``virtual(kind)`` returns the virtual Location of that kind
  (``LocationKind.SUPPLIER``, ``CUSTOMER``, ``INVENTORY_ADJUSTMENT``, ``SCRAP``, ``TRANSIT``,
  or their string values such as ``"customer"``);
- ``snapshot``: ``snapshot()`` returns ``tests.stock.factories.ledger_snapshot()``; equal
  snapshots before and after a refused operation prove that nothing was written.

The fixtures request ``db``; a test that also requests ``transactional_db`` (real commits, for
concurrency) gets the transactional database instead, as pytest-django gives precedence to it.
A transactional test flushes every table when it ends, including the virtual locations and
units of the data migrations; the fixtures therefore (re)create those they need, so they work
whatever ran before.

Factories and readers (``level_of``, ``valuation_of``, ``layers_of``, ``ledger_snapshot``) live
in ``tests/stock/factories.py``; import them as ``from tests.stock.factories import ...``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from catalog.models import Item, Location, LocationKind, Warehouse
from tests.stock.factories import (
    ItemFactory,
    LocationFactory,
    UserFactory,
    WarehouseFactory,
    ensure_virtual_locations,
    ledger_snapshot,
)


@pytest.fixture
def virtual_locations(db) -> dict[str, Location]:
    """The five virtual locations keyed by kind (created if a flush removed them)."""
    return ensure_virtual_locations()


@pytest.fixture
def virtual(virtual_locations) -> Callable[[str], Location]:
    """``virtual(kind)``: the virtual location of that kind, e.g. ``virtual(LocationKind.CUSTOMER)``."""

    def get(kind: str) -> Location:
        return virtual_locations[LocationKind(kind).value]

    return get


@pytest.fixture
def actor(db):
    """A superuser: these tests are about the ledger; tests/stock/test_permissions.py is about
    who may post where."""
    return UserFactory(username="clerk", is_superuser=True)


@pytest.fixture
def warehouse(virtual_locations) -> Warehouse:
    return WarehouseFactory(code="WH1", name="Main warehouse")


@pytest.fixture
def other_warehouse(virtual_locations) -> Warehouse:
    return WarehouseFactory(code="WH2", name="Second warehouse")


@pytest.fixture
def bin_a(warehouse) -> Location:
    return LocationFactory(warehouse=warehouse, code="A-01")


@pytest.fixture
def bin_b(warehouse) -> Location:
    return LocationFactory(warehouse=warehouse, code="A-02")


@pytest.fixture
def bin_c(other_warehouse) -> Location:
    return LocationFactory(warehouse=other_warehouse, code="B-01")


@pytest.fixture
def item(db) -> Item:
    return ItemFactory(sku="WIDGET", name="Widget")


@pytest.fixture
def fifo_item(db) -> Item:
    return ItemFactory(sku="BOLT", name="Bolt", fifo=True)


@pytest.fixture
def lot_item(db) -> Item:
    return ItemFactory(sku="MILK", name="Milk 1 l", lot_tracked=True)


@pytest.fixture
def snapshot(db) -> Callable[[], dict[str, object]]:
    """``snapshot()``: the ledger's rows and values, for before/after comparisons."""
    return ledger_snapshot

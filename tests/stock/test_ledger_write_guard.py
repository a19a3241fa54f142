"""No door around the ledger: the ledger models' managers refuse bulk ``update()`` and
``delete()``, and the autouse ``ledger_write_guard`` (tests/conftest.py) fails any test in
which project code outside ``stock/services/`` writes a ledger table."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from stock.models import (
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    LedgerWriteError,
    StockLevel,
)
from stock.services import reservation_create, stock_issue, stock_receive
from tests.conftest import PROJECT
from tests.stock.factories import ItemFactory, ledger_snapshot

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def fifo_stock(actor, bin_a, warehouse):
    """A FIFO item with two layers in WH1 (3 at 1.00, 2 at 2.00) and one sale of 4 consuming
    both, so every ledger table has rows."""
    item = ItemFactory(sku="FIFO-G", fifo=True)
    stock_receive(item=item, location=bin_a, quantity=D(3), unit_cost=D(1), actor=actor)
    stock_receive(item=item, location=bin_a, quantity=D(2), unit_cost=D(2), actor=actor)
    stock_issue(item=item, location=bin_a, quantity=D(4), actor=actor)  # 3 x 1.00 + 1 x 2.00
    return item


@pytest.mark.parametrize("model", [StockLevel, ItemValuation, CostLayer, CostLayerConsumption])
def test_the_ledgers_projections_refuse_bulk_update_and_delete(fifo_stock, snapshot, model):
    before = snapshot()
    assert model.objects.exists()

    with pytest.raises(LedgerWriteError, match=f"{model.__name__} rows change only by posting movements"):
        model.objects.all().update(id=0)
    with pytest.raises(LedgerWriteError, match="never by delete"):
        model.objects.all().delete()

    assert snapshot() == before


def _run_as_if_in(relative_path: str, source: str) -> None:
    """Run ``source`` with frames that claim to be in ``relative_path`` of the project: how a
    view, an admin action or a task would look to the guard."""
    exec(compile(source, str(PROJECT / relative_path), "exec"), {"connection": connection})  # noqa: S102


def test_the_guard_catches_a_view_writing_stock_levels(ledger_write_guard, actor, bin_a, item):
    stock_receive(item=item, location=bin_a, quantity=D(5), actor=actor)
    level = StockLevel.objects.get(item=item, location=bin_a)
    assert ledger_write_guard.violations == []  # the services wrote it

    _run_as_if_in(
        "stock/floor/job_page.py",
        "with connection.cursor() as cursor:\n"
        f"    cursor.execute('UPDATE stock_stocklevel SET on_hand = on_hand + 1 WHERE id = %s', [{level.pk}])\n",
    )

    (violation,) = ledger_write_guard.violations
    assert violation.startswith(f"{PROJECT}/stock/floor/job_page.py:2 writes stock_stocklevel")
    ledger_write_guard.violations.clear()  # caught: let this test pass


def test_the_guard_catches_another_app_deleting_ledger_rows(ledger_write_guard, actor, bin_a, item):
    movement = stock_receive(item=item, location=bin_a, quantity=D(5), actor=actor)

    _run_as_if_in(
        "purchasing/services.py",
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('DELETE FROM \"stock_costlayerconsumption\" WHERE movement_id = %s', "
        f"[{movement.pk}])\n",
    )

    assert [v.split(" writes ")[1][:26] for v in ledger_write_guard.violations] == ["stock_costlayerconsumption"]
    ledger_write_guard.violations.clear()


def test_services_migrations_and_tests_may_write(ledger_write_guard, actor, bin_a, warehouse, item):
    stock_receive(item=item, location=bin_a, quantity=D(5), actor=actor)
    reservation_create(item=item, warehouse=warehouse, quantity=D(2), actor=actor)
    _run_as_if_in(
        "stock/migrations/0099_example.py",
        "with connection.cursor() as cursor:\n    cursor.execute('UPDATE stock_stocklevel SET reserved = reserved')\n",
    )
    with connection.cursor() as cursor:  # a test injecting drift on purpose
        cursor.execute("UPDATE stock_stocklevel SET on_hand = on_hand WHERE item_id = %s", [item.pk])

    assert ledger_write_guard.violations == []
    assert ledger_snapshot()["movements"] == 1

"""``manage.py seed_demo``: the whole demo business, stock and purchasing included; a second run
writes nothing."""

import io

import pytest
from django.core.management import call_command

from purchasing.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus, ReorderPolicy, SupplierItem
from purchasing.selectors import reorder_suggestions
from stock.models import ItemValuation, Movement, StockLevel
from stock.reconciliation import reconcile

pytestmark = pytest.mark.django_db


def _state() -> tuple:
    return (
        list(Movement.objects.order_by("id").values_list("id", "quantity", "total_cost")),
        list(StockLevel.objects.order_by("id").values_list("id", "on_hand", "reserved")),
        list(ItemValuation.objects.order_by("id").values_list("id", "quantity", "value")),
        list(SupplierItem.objects.order_by("id").values_list("id", "unit_cost", "preferred")),
        list(ReorderPolicy.objects.order_by("id").values_list("id", "reorder_point", "order_up_to")),
        list(PurchaseOrder.objects.order_by("id").values_list("id", "status")),
        list(PurchaseOrderLine.objects.order_by("id").values_list("id", "quantity", "received_quantity")),
    )


def test_seed_demo_builds_stock_sales_and_purchasing_that_reconcile_and_a_second_run_writes_nothing():
    call_command("seed_demo", stdout=io.StringIO())
    assert Movement.objects.filter(kind="receipt").count() > 150
    assert Movement.objects.filter(kind="issue").count() > 300
    assert reconcile() == []
    assert SupplierItem.objects.filter(preferred=True).count() == ReorderPolicy.objects.count() > 150
    assert set(PurchaseOrder.objects.values_list("status", flat=True)) == {
        PurchaseOrderStatus.DRAFT,
        PurchaseOrderStatus.ORDERED,
        PurchaseOrderStatus.PARTIALLY_RECEIVED,
    }
    assert Movement.objects.filter(reference_type="purchasing.purchase-order").exists()
    assert any(s.urgent for s in reorder_suggestions())
    before = _state()

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert _state() == before
    assert "Nothing to do" in out.getvalue()

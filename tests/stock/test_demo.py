"""``manage.py seed_demo``: the whole demo business, stock included; a second run posts nothing."""

import io

import pytest
from django.core.management import call_command

from stock.models import ItemValuation, Movement, StockLevel
from stock.reconciliation import reconcile

pytestmark = pytest.mark.django_db


def _state() -> tuple:
    return (
        list(Movement.objects.order_by("id").values_list("id", "quantity", "total_cost")),
        list(StockLevel.objects.order_by("id").values_list("id", "on_hand", "reserved")),
        list(ItemValuation.objects.order_by("id").values_list("id", "quantity", "value")),
    )


def test_seed_demo_builds_stock_and_sales_that_reconcile_and_a_second_run_posts_nothing():
    call_command("seed_demo", stdout=io.StringIO())
    assert Movement.objects.filter(kind="receipt").count() > 150
    assert Movement.objects.filter(kind="issue").count() > 300
    assert reconcile() == []
    before = _state()

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert _state() == before
    assert "Nothing to do" in out.getvalue()

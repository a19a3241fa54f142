"""Demand history from the ledger (sales only, per warehouse, stock-out days flagged), computed
policies from a forecast (permissions, refusals that write nothing), the measured lead time,
the vendor-performance worked example, the suggestion API's explained figures, the ``forecast``
command and the nightly chunk task."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from catalog.permissions import WarehouseAction
from purchasing.models import DemandDay, DemandForecast, PolicyMode, PurchaseOrder, ReorderPolicy
from purchasing.replenishment import (
    demand_history_refresh,
    demand_series,
    forecast_pairs,
    lead_time,
    reorder_policy_compute,
)
from purchasing.selectors import supplier_performance
from purchasing.services import (
    OrderLine,
    PurchasingError,
    Receipt,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
)
from purchasing.tasks import forecast_chunk
from stock import services as stock
from stock.models import Movement

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = timezone.localdate()


def noon(days_ago: int) -> datetime:
    return timezone.make_aware(datetime.combine(TODAY - timedelta(days=days_ago), time(12)))


@pytest.fixture(autouse=True)
def backdating(settings):
    settings.STOCK_BACKDATE_DAYS = 60  # history is made in the past


def test_demand_history_counts_sales_per_warehouse_and_flags_stock_out_days(
    warehouse, bin_a, bin_b, bin_c, item, actor
):
    stock.stock_receive(item=item, location=bin_a, quantity=D(10), actor=actor, occurred_at=noon(10))
    stock.stock_issue(item=item, location=bin_a, quantity=D(4), actor=actor, occurred_at=noon(9))  # closes at 6
    stock.stock_transfer(item=item, source=bin_a, destination=bin_b, quantity=D(6), actor=actor, occurred_at=noon(9))
    stock.stock_issue(item=item, location=bin_b, quantity=D(6), actor=actor, occurred_at=noon(8))  # closes at 0
    stock.stock_receive(item=item, location=bin_a, quantity=D(5), actor=actor, occurred_at=noon(6))  # day 7 stays 0
    stock.stock_issue(item=item, location=bin_a, quantity=D(2), actor=actor, occurred_at=noon(5))  # closes at 3
    stock.stock_receive(item=item, location=bin_c, quantity=D(9), actor=actor, occurred_at=noon(3))
    stock.stock_issue(item=item, location=bin_c, quantity=D(1), actor=actor, occurred_at=noon(3))  # WH2 closes at 8
    stock.stock_scrap(item=item, location=bin_c, quantity=D(1), actor=actor, reason_code="damaged")  # today: not a sale

    assert demand_history_refresh() == 5
    rows = {
        (r.warehouse.code, (TODAY - r.day).days): (r.quantity, r.stockout)
        for r in DemandDay.objects.select_related("warehouse")
    }
    assert rows == {
        ("WH1", 9): (4, False),  # the move between bins is neither demand nor stock leaving
        ("WH1", 8): (6, True),
        ("WH1", 7): (0, True),  # nothing sold, nothing on hand
        ("WH1", 5): (2, False),
        ("WH2", 3): (1, False),
    }
    assert demand_history_refresh() == 5 and DemandDay.objects.count() == 5  # idempotent

    demand, stockout = demand_series(item_id=item.pk, warehouse_id=warehouse.pk)
    assert demand == [4, 6, 0, 0, 2, 0, 0, 0, 0]  # day 9 .. day 1
    assert stockout == [False, True, True, False, False, False, False, False, False]
    assert forecast_pairs(warehouse=warehouse) == [(item.pk, warehouse.pk)]


@pytest.fixture
def forecast(item, warehouse, forecast_of) -> DemandForecast:
    """20 a day, standard deviation 5 (a fit, stored as the job stores it)."""
    return forecast_of(item, warehouse)


@pytest.fixture
def policy(item, warehouse) -> ReorderPolicy:
    return ReorderPolicy.objects.create(item=item, warehouse=warehouse, reorder_point=D(10), order_up_to=D(30))


def test_a_computed_policy_from_the_forecast_promised_lead_time_and_default_holding_cost(
    supplier, policy, forecast, actor
):
    computed = reorder_policy_compute(policy=policy, actor=actor)
    # ACME: 5 days promised, no receipts -> no spread; WIDGET at 2.50, order cost 25, holding 25 %
    # SS = 1.6449 x sqrt(5 x 5^2 + 20^2 x 0) = 1.6449 x 11.1803 = 18.39 -> 19
    # ROP = 20 x 5 + 19 = 119
    # H = 25 % of 2.50 = 0.625; EOQ = sqrt(2 x 7300 x 25 / 0.625) = sqrt(584000) = 764.20 -> 765
    assert (computed.safety_stock, computed.reorder_point, computed.order_quantity) == (19, 119, 765)
    assert computed.order_up_to == 119 + 765 and computed.mode == PolicyMode.COMPUTED
    assert computed.explanation["figures"]["lead_time"].startswith("5 days, spread 0 days: ACME: the supplier's")
    assert computed.history.first().history_user == actor


def test_computing_is_refused_without_a_forecast_or_a_supplier_and_writes_nothing(policy, forecast, actor, item):
    with pytest.raises(PurchasingError, match="Nobody sells WIDGET"):
        reorder_policy_compute(policy=policy, actor=actor)  # no supplier fixture: no offer
    forecast.delete()
    with pytest.raises(PurchasingError, match="No forecast of WIDGET in WH1 yet"):
        reorder_policy_compute(policy=policy, actor=actor)
    policy.refresh_from_db()
    assert (policy.mode, policy.reorder_point, policy.order_quantity) == (PolicyMode.MANUAL, 10, None)


def test_computing_needs_the_policy_permission_in_that_warehouse(supplier, policy, forecast, person):
    from catalog.permissions import WarehousePermissionDenied

    clerk = person("Warehouse clerk", WarehouseAction.VIEW)
    with pytest.raises(WarehousePermissionDenied):
        reorder_policy_compute(policy=policy, actor=clerk)
    policy.refresh_from_db()
    assert policy.mode == PolicyMode.MANUAL and policy.computed_at is None


def _received(supplier, item, warehouse, bin_a, actor, *, ordered, received, quantity, cost="2.50", lot=None):
    """An order of 10 placed ``ordered`` days ago, promised 5 days later, receiving ``quantity``
    ``received`` days ago."""
    order = purchase_order_create(
        supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, D(10), D(cost))], actor=actor
    )
    purchase_order_place(order=order, actor=actor)
    PurchaseOrder.objects.filter(pk=order.pk).update(
        ordered_at=noon(ordered), expected_on=TODAY - timedelta(days=ordered - 5)
    )
    order.refresh_from_db()
    purchase_order_receive(
        order=order,
        receipts=[Receipt(order.lines.get(), D(quantity), bin_a)],
        actor=actor,
        occurred_at=noon(received),
    )


def test_vendor_performance_worked_example_feeds_the_lead_time(
    supplier, item, warehouse, bin_a, actor, policy, forecast
):
    _received(supplier, item, warehouse, bin_a, actor, ordered=30, received=26, quantity=10)  # 4 days, on time
    _received(supplier, item, warehouse, bin_a, actor, ordered=20, received=14, quantity=10, cost="2.75")  # 6, late
    _received(supplier, item, warehouse, bin_a, actor, ordered=10, received=2, quantity=5)  # 8 days, late, half

    (acme,) = supplier_performance(start=TODAY - timedelta(days=60))
    assert acme.lines == 3 and acme.promised_lead_time == 5
    assert acme.actual_lead_time == 6  # (4 + 6 + 8) / 3
    assert acme.lead_time_sd == 2  # sqrt(((4-6)^2 + 0 + (8-6)^2) / 2) = sqrt(4)
    assert acme.on_time_rate == D(1) / 3 and acme.in_full_rate == D(2) / 3
    # paid 10 x 2.50 + 10 x 2.75 + 5 x 2.50 = 65 against the offer's 25 x 2.50 = 62.5: 65 / 62.5 - 1 = 0.04
    assert acme.price_variance == D("0.04")
    (recent,) = supplier_performance(start=TODAY - timedelta(days=15))  # only the order of 10 days ago
    assert (recent.lines, recent.actual_lead_time, recent.lead_time_sd, recent.in_full_rate) == (1, 8, 0, 0)

    days, spread, source = lead_time(supplier, 5)
    assert (days, spread) == (6, 2) and source == "measured over 3 received order lines"
    computed = reorder_policy_compute(policy=policy, actor=actor)
    # SS = 1.6449 x sqrt(6 x 25 + 400 x 4) = 1.6449 x sqrt(1750) = 1.6449 x 41.8330 = 68.81 -> 69; ROP = 120 + 69
    assert (computed.safety_stock, computed.reorder_point) == (69, 189)


def test_the_suggestion_api_explains_each_figure(supplier, policy, forecast, actor, warehouse):
    reorder_policy_compute(policy=policy, actor=actor)
    client = APIClient()
    client.force_authenticate(actor)
    (line,) = client.get("/api/v1/reorder-suggestions/").json()
    assert line["forecast_daily_demand"] == "20.0000"
    assert (line["safety_stock"], line["reorder_point"], line["order_quantity"]) == ("19.0000", "119.0000", "765.0000")
    assert line["service_level"] == "0.9500" and line["mode"] == "computed"
    assert line["quantity"] == "884.0000"  # order-up-to 884 - position 0
    assert line["explain"]["reorder_point"].startswith("119 = demand over the lead time 100 (20 a day x 5 days)")
    assert line["explain"]["quantity"].startswith("884 = order-up-to 884 - position 0")


def test_a_manual_policy_says_so_and_has_no_order_quantity(supplier, policy, actor):
    client = APIClient()
    client.force_authenticate(actor)
    (line,) = client.get("/api/v1/reorder-suggestions/").json()
    assert line["order_quantity"] is None and line["forecast_daily_demand"] is None and line["mode"] == "manual"
    assert line["explain"]["mode"].startswith("Manual policy")
    assert line["explain"]["quantity"].startswith("30 = order-up-to 30 - position 0")


def test_the_forecast_command_refits_a_scope_and_names_a_wrong_one(supplier, policy, bin_a, item, actor):
    stock.stock_receive(item=item, location=bin_a, quantity=D(100), actor=actor, occurred_at=noon(15))
    for day in range(1, 15):
        stock.stock_issue(item=item, location=bin_a, quantity=D(3), actor=actor, occurred_at=noon(day))
    ReorderPolicy.objects.filter(pk=policy.pk).update(mode=PolicyMode.COMPUTED)
    call_command("forecast", "--sku", "WIDGET", "--warehouse", "wh1")
    fitted = DemandForecast.objects.get()
    assert fitted.method == "moving average (short history)" and fitted.daily_demand == 3  # 14 days of 3
    policy.refresh_from_db()
    # 3 a day, sd 0, 5 days: SS 0, ROP 15
    assert (policy.safety_stock, policy.reorder_point) == (0, 15)
    with pytest.raises(CommandError, match="No item has the SKU or barcode 'NOPE'"):
        call_command("forecast", "--sku", "NOPE")


def test_the_nightly_chunk_task_refits_and_the_job_is_scheduled(item, warehouse, policy, forecast):
    ReorderPolicy.objects.filter(pk=policy.pk).update(mode=PolicyMode.COMPUTED)
    assert forecast_chunk([[item.pk, warehouse.pk]]) == 1
    forecast.refresh_from_db()
    assert forecast.method == "moving average (short history)" and forecast.daily_demand == 0  # no history
    policy.refresh_from_db()
    assert policy.explanation == {"problem": "Nobody sells WIDGET: add a supplier offer before computing its policy."}
    assert PeriodicTask.objects.get(name="Nightly demand forecasts").task == "purchasing.forecast_nightly"
    assert Movement.objects.count() == 0  # forecasting only reads the ledger


def test_a_transfer_is_suggested_from_a_warehouse_with_surplus(
    supplier, item, warehouse, other_warehouse, bin_c, actor, forecast_of
):
    ReorderPolicy.objects.create(item=item, warehouse=warehouse, reorder_point=D(10), order_up_to=D(40))
    ReorderPolicy.objects.create(item=item, warehouse=other_warehouse, reorder_point=D(5), order_up_to=D(10))
    forecast_of(item, other_warehouse, daily="2", sd="1")
    stock.stock_receive(item=item, location=bin_c, quantity=D(50), actor=actor)
    client = APIClient()
    client.force_authenticate(actor)
    (line,) = client.get("/api/v1/reorder-suggestions/").json()
    # WH2 keeps its order-up-to 10 + 2 a day x ACME's 5 days = 20: 50 - 20 = 30 spare; WH1 wants 40 -> 30
    assert (line["warehouse"], line["quantity"], line["transfer_from"], line["transfer_quantity"]) == (
        "WH1",
        "40.0000",
        "WH2",
        "30.0000",
    )
    assert line["explain"]["transfer"].startswith("WH2 holds 30 more than it needs")


def test_the_nightly_job_rebuilds_history_and_spreads_the_refits_over_chunk_tasks(
    item, lot_item, warehouse, bin_a, actor, monkeypatch
):
    from celery import current_app

    from purchasing import tasks

    monkeypatch.setitem(current_app.conf, "task_always_eager", True)  # the chunks run here, in order
    monkeypatch.setattr(tasks, "FORECAST_CHUNK", 1)
    for sku_item in (item, lot_item):
        ReorderPolicy.objects.create(item=sku_item, warehouse=warehouse, reorder_point=D(1))
    stock.stock_receive(item=item, location=bin_a, quantity=D(9), actor=actor, occurred_at=noon(3))
    stock.stock_issue(item=item, location=bin_a, quantity=D(3), actor=actor, occurred_at=noon(2))

    assert tasks.forecast_nightly() == 2  # two pairs, one per task
    assert DemandDay.objects.get().quantity == 3
    fitted = {f.item.sku: f.daily_demand for f in DemandForecast.objects.select_related("item")}
    assert fitted == {"WIDGET": D("1.5"), "MILK": 0}  # 3 sold over the 2 days since the first sale; MILK none

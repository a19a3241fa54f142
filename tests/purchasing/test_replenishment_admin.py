"""The reorder policy page: why each computed figure, the demand chart's data (history, stock-out
days apart, forecast), the compute action (a refusal is a message and nothing is written), and
the holding-cost page."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from purchasing.models import PolicyMode, ReorderPolicy
from purchasing.replenishment import demand_history_refresh
from stock import services as stock

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def policy(item, warehouse) -> ReorderPolicy:
    return ReorderPolicy.objects.create(item=item, warehouse=warehouse, reorder_point=D(10), order_up_to=D(30))


def test_the_compute_action_explains_each_figure_and_the_page_charts_the_demand(
    boss, supplier, policy, item, warehouse, bin_a, actor, settings, forecast_of
):
    settings.STOCK_BACKDATE_DAYS = 10
    today = timezone.localdate()
    stock.stock_receive(
        item=item,
        location=bin_a,
        quantity=D(3),
        actor=actor,
        occurred_at=timezone.make_aware(datetime.combine(today - timedelta(days=3), time(9))),
    )
    for days_ago in (3, 2):  # sells 2 then 1: closes at 1 then 0 (a stock-out day)
        stock.stock_issue(
            item=item,
            location=bin_a,
            quantity=D(days_ago - 1),
            actor=actor,
            occurred_at=timezone.make_aware(datetime.combine(today - timedelta(days=days_ago), time(12))),
        )
    demand_history_refresh()
    forecast_of(item, warehouse, daily="2", sd="1")

    changelist = reverse("admin:purchasing_reorderpolicy_changelist")
    response = boss.post(changelist, {"action": "compute_policies", "_selected_action": [policy.pk]}, follow=True)
    assert "computed." in response.content.decode()
    policy.refresh_from_db()
    # 2 a day, sd 1, ACME 5 days: SS = 1.6449 x sqrt(5 x 1) = 3.678 -> 4; ROP = 10 + 4 = 14
    assert (policy.mode, policy.safety_stock, policy.reorder_point) == (PolicyMode.COMPUTED, 4, 14)

    page = boss.get(reverse("admin:purchasing_reorderpolicy_change", args=[policy.pk])).content.decode()
    assert "14 = demand over the lead time 10 (2 a day x 5 days) + safety stock 4" in page
    assert "vendor/chartjs/chart.umd.min.js" in page
    data = re.search(r'<script id="demand-chart-data" type="application/json">(.*?)</script>', page)
    chart = json.loads(data.group(1))
    assert chart["demand"][:3] == ["2", None, None]  # 3 days ago 2 sold; then two days closing with nothing
    assert chart["stockout"][:3] == [None, "1", "0"]  # the stock-out days' sales are shown apart
    assert chart["demand"][1] is None and chart["forecast"][3:5] == ["2", "2"] and len(chart["labels"]) == 3 + 91


def test_a_refused_computation_is_a_message_and_changes_nothing(boss, policy):
    changelist = reverse("admin:purchasing_reorderpolicy_changelist")
    response = boss.post(changelist, {"action": "compute_policies", "_selected_action": [policy.pk]}, follow=True)
    assert "No forecast of WIDGET in WH1 yet" in response.content.decode()
    policy.refresh_from_db()
    assert (policy.mode, policy.reorder_point, policy.computed_at) == (PolicyMode.MANUAL, 10, None)
    page = boss.get(reverse("admin:purchasing_reorderpolicy_change", args=[policy.pk])).content.decode()
    assert "No demand history yet" in page and "Manual: the figures are typed in." in page


def test_the_holding_cost_pages_open(boss):
    for page in ("changelist", "add"):
        assert boss.get(reverse(f"admin:purchasing_categoryholdingcost_{page}")).status_code == 200

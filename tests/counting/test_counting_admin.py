"""The managers' counting pages: lists open, "Start a count…" (refused bins named, nothing
written), approve and reject with a reason code through an intermediate page, and scope."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from counting.models import Count, CountLine, LineStatus
from counting.services import count_start, count_submit
from tests.stock.factories import level_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(manager) -> Client:  # noqa: ANN001
    manager.is_staff = True
    manager.save()
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def waiting(manager, clerk, other_clerk, bin_a, stocked, counted) -> CountLine:  # noqa: ANN001
    count = count_start(warehouse=bin_a.warehouse, locations=[bin_a], actor=manager)
    first = counted(count, "96", clerk)  # -4: beyond C's 2 % of 100
    count_submit(count=count, actor=clerk)
    first.refresh_from_db()
    counted(first.recount_line.count, "96", other_clerk)
    count_submit(count=first.recount_line.count, actor=other_clerk)
    return CountLine.objects.get(pk=first.recount_line_id)


@pytest.mark.parametrize("model", ["count", "countline", "classpolicy", "itemclass"])
def test_every_counting_list_opens(boss, waiting, model):
    assert boss.get(reverse(f"admin:counting_{model}_changelist")).status_code == 200


def test_a_count_page_and_the_start_page_open(boss, waiting):
    assert boss.get(reverse("admin:counting_count_change", args=[waiting.count_id])).status_code == 200
    assert "Start a count" in boss.get(reverse("admin:counting_count_changelist")).content.decode()


def test_start_a_count_of_bins_and_refuse_an_unknown_bin(boss, warehouse, bin_a, stocked):
    url = reverse("admin:counting_count_start")
    page = boss.post(url, {"warehouse": warehouse.pk, "locations": "A-01\nZ-99", "blind": "on"})
    assert page.status_code == 200 and "WH1 has no bin &#x27;Z-99&#x27;." in page.content.decode()
    assert not Count.objects.exists()
    done = boss.post(url, {"warehouse": warehouse.pk, "locations": "A-01", "blind": "on"})
    count = Count.objects.get()
    assert done.status_code == 302 and done["Location"].endswith(f"/counting/count/{count.pk}/change/")
    assert count.lines.count() == 1 and count.blind


def test_approve_asks_for_a_reason_then_posts(boss, waiting, item, bin_a):
    url = reverse("admin:counting_countline_changelist")
    ask = boss.post(url, {"action": "approve_lines", "_selected_action": [waiting.pk]})
    assert ask.status_code == 200 and "Approve count lines" in ask.content.decode()
    without = boss.post(url, {"action": "approve_lines", "_selected_action": [waiting.pk], "apply": "1", "reason": ""})
    assert without.status_code == 200 and level_of(item, bin_a)[0] == Decimal(100)  # asked again, nothing posted
    boss.post(url, {"action": "approve_lines", "_selected_action": [waiting.pk], "apply": "1", "reason": "theft"})
    waiting.refresh_from_db()
    assert waiting.status == LineStatus.APPROVED and waiting.reason_code == "theft"
    assert level_of(item, bin_a)[0] == Decimal(96)  # 100 - 4


def test_reject_posts_nothing(boss, waiting, item, bin_a):
    url = reverse("admin:counting_countline_changelist")
    boss.post(url, {"action": "reject_lines", "_selected_action": [waiting.pk], "apply": "1", "reason": "unknown"})
    waiting.refresh_from_db()
    assert waiting.status == LineStatus.REJECTED and level_of(item, bin_a)[0] == Decimal(100)


def test_another_warehouses_counts_are_not_found(boss, bin_c, item, actor):
    from stock.services import stock_receive

    stock_receive(item=item, location=bin_c, quantity=Decimal(1), unit_cost=Decimal(1), actor=actor)
    other = count_start(warehouse=bin_c.warehouse, locations=[bin_c], actor=None)
    assert boss.get(reverse("admin:counting_count_change", args=[other.pk])).status_code == 404
    line = other.lines.get()
    assert boss.get(reverse("admin:counting_countline_change", args=[line.pk])).status_code == 404

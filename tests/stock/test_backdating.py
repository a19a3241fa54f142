"""The back-dating window (issue 12, 5; docs/ledger.md "Back-dating"): a posting's
``occurred_at`` may lie at most ``STOCK_BACKDATE_DAYS`` (7) days back; further back needs the
adjust permission in every warehouse the posting touches. A refusal writes nothing.
Checked in the one place every posting passes (``stock.services.posting._post_movements``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.test import override_settings
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog.permissions import WarehouseAction
from inventory_site import roles
from stock import services
from stock.services import BackdatedTooFar, StockRequest
from tests.stock.factories import ledger_snapshot

ANCIENT = datetime(1, 1, 1, tzinfo=UTC)


def _user(name: str, role: str, warehouse, actions) -> User:  # noqa: ANN001
    user = User.objects.create_user(name)
    user.groups.add(Group.objects.get(name=role))
    for action in actions:
        assign_perm(f"catalog.{action}", user, warehouse)
    return user


@pytest.fixture
def clerk(warehouse) -> User:
    return _user("clerk-a", roles.WAREHOUSE_CLERK, warehouse, (WarehouseAction.VIEW, WarehouseAction.POST))


@pytest.fixture
def manager(warehouse) -> User:
    return _user("manager-a", roles.INVENTORY_MANAGER, warehouse, WarehouseAction.ALL)


@pytest.fixture
def stocked(item, bin_a):
    services.stock_receive(item=item, location=bin_a, quantity=Decimal(10), unit_cost=Decimal(2), actor=None)
    return bin_a


def sell(who, item, bin_a, when):  # noqa: ANN001, ANN201
    (movement,) = services.stock_issue(item=item, location=bin_a, quantity=Decimal(1), actor=who, occurred_at=when)
    return movement


def test_a_clerks_sale_dated_year_one_is_refused_and_writes_nothing(clerk, item, stocked):
    before = ledger_snapshot()

    with pytest.raises(BackdatedTooFar) as refused:
        sell(clerk, item, stocked, ANCIENT)

    assert str(refused.value) == (
        "occurred_at 0001-01-01 is more than 7 days back; posting further back needs the adjust permission in WH1."
    )
    assert refused.value.code == "backdated_too_far"
    assert ledger_snapshot() == before


def test_a_clerk_may_back_date_within_the_window(clerk, item, stocked):
    six_days_ago = timezone.now() - timedelta(days=6)
    movement = sell(clerk, item, stocked, six_days_ago)
    assert movement.occurred_at == six_days_ago


def test_just_past_the_window_is_refused(clerk, item, stocked):
    with pytest.raises(BackdatedTooFar):
        sell(clerk, item, stocked, timezone.now() - timedelta(days=7, minutes=1))


def test_a_manager_who_may_adjust_there_may_post_further_back(manager, item, stocked):
    movement = sell(manager, item, stocked, ANCIENT)
    assert movement.occurred_at == ANCIENT


def test_the_adjust_permission_must_hold_in_every_warehouse_of_the_posting(manager, item, stocked, bin_c):
    # manager-a may adjust in the posting's source warehouse only, not in the destination's.
    assign_perm(f"catalog.{WarehouseAction.POST}", manager, bin_c.warehouse)
    before = ledger_snapshot()
    with pytest.raises(BackdatedTooFar, match=f"adjust permission in {bin_c.warehouse.code}\\.$"):
        services.stock_transfer(
            item=item, quantity=Decimal(1), source=stocked, destination=bin_c, actor=manager, occurred_at=ANCIENT
        )
    assert ledger_snapshot() == before


@override_settings(STOCK_BACKDATE_DAYS=30)
def test_the_window_is_a_setting(clerk, item, stocked):
    sell(clerk, item, stocked, timezone.now() - timedelta(days=20))
    with pytest.raises(BackdatedTooFar, match="more than 30 days back"):
        sell(clerk, item, stocked, timezone.now() - timedelta(days=31))


def test_the_batch_door_refuses_before_creating_a_lot(clerk, lot_item, stocked):
    before = ledger_snapshot()
    with pytest.raises(BackdatedTooFar):
        services.stock_post_batch(
            requests=[
                StockRequest(kind="receipt", item=lot_item, quantity=Decimal(1), destination=stocked, lot="NEW-LOT")
            ],
            actor=clerk,
            occurred_at=ANCIENT,
        )
    assert ledger_snapshot() == before  # no movement, and no lot "NEW-LOT" either


def test_the_system_may_post_further_back(item, stocked):
    assert sell(None, item, stocked, ANCIENT).occurred_at == ANCIENT

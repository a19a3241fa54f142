"""``stock.services.short_pick_record``: one record per item, bin, lot and local day; refusals
(not a bin, a lot of another item, not short, an unknown source, no right to pick there) write
nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog.models import LocationKind
from catalog.permissions import WarehouseAction, WarehousePermissionDenied
from common.roles import INVENTORY_MANAGER
from stock.models import ShortPick
from stock.services import InvalidMovement, short_pick_record
from tests.stock.factories import LotFactory, UserFactory

pytestmark = pytest.mark.django_db


def record(item, location, **kwargs):  # noqa: ANN001, ANN003, ANN201
    values = {"lot": None, "asked": Decimal(5), "available": Decimal(2), "actor": None, "source": "floor"}
    return short_pick_record(item=item, location=location, **{**values, **kwargs})


def test_once_a_day_per_item_bin_and_lot(item, lot_item, bin_a, bin_b):
    noon = datetime(2026, 12, 4, 12, tzinfo=timezone.get_current_timezone())
    first = record(item, bin_a, at=noon)
    assert record(item, bin_a, at=noon + timedelta(hours=3), asked=Decimal(9)) == first  # same day: the first
    assert first.asked == Decimal(5)  # kept as it was
    record(item, bin_b, at=noon)  # another bin
    record(item, bin_a, at=noon + timedelta(days=1))  # the next day
    lot = LotFactory(item=lot_item)
    record(lot_item, bin_a, lot=lot, at=noon)
    record(lot_item, bin_a, at=noon)  # no lot named: another key
    assert ShortPick.objects.count() == 5


@pytest.mark.parametrize(
    "change, message",
    [
        ({"asked": Decimal(2)}, "not short"),
        ({"source": "fax"}, "is not one of floor, api"),
    ],
)
def test_refusals_write_nothing(item, bin_a, change, message):
    with pytest.raises(InvalidMovement, match=message):
        record(item, bin_a, **change)
    assert not ShortPick.objects.exists()


def test_a_virtual_location_or_another_items_lot_is_refused(item, lot_item, bin_a, virtual):
    with pytest.raises(InvalidMovement, match="is not a bin of a warehouse"):
        record(item, virtual(LocationKind.CUSTOMER))
    with pytest.raises(InvalidMovement, match="not WIDGET"):
        record(item, bin_a, lot=LotFactory(item=lot_item))
    assert not ShortPick.objects.exists()


def test_someone_who_may_not_pick_in_the_warehouse_records_nothing(item, bin_a):
    with pytest.raises(WarehousePermissionDenied):
        record(item, bin_a, actor=UserFactory(username="visitor"))
    assert not ShortPick.objects.exists()


def test_the_admin_lists_them_read_only_within_the_managers_warehouses(
    client, item, bin_a, bin_c, warehouse, other_warehouse
):
    manager = User.objects.create_user("manager", is_staff=True)
    manager.groups.add(Group.objects.get(name=INVENTORY_MANAGER))
    assign_perm(f"catalog.{WarehouseAction.VIEW}", manager, warehouse)
    mine = record(item, bin_a, asked=Decimal(7), available=Decimal(3))
    theirs = record(item, bin_c)
    client.force_login(manager)
    page = client.get(reverse("admin:stock_shortpick_changelist"))
    assert page.status_code == 200
    assert list(page.context["cl"].queryset) == [mine]  # not WH2's
    assert "7 each" in page.content.decode()  # asked, with the unit
    assert client.get(reverse("admin:stock_shortpick_add")).status_code == 403
    assert client.get(reverse("admin:stock_shortpick_change", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("admin:stock_shortpick_delete", args=[mine.pk])).status_code == 403
    assert ShortPick.objects.count() == 2

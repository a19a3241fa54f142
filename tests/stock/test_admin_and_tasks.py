"""The ledger's admin (read-only lists, reversal with confirmation, stock card) and the nightly
reconciliation task."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.db import connection
from django.urls import reverse
from guardian.shortcuts import assign_perm

from catalog.models import Item, Location, UnitOfMeasure, Warehouse
from catalog.permissions import WarehouseAction
from common.roles import AUDITOR, INVENTORY_MANAGER
from stock.models import Movement, MovementKind, StockLevel
from stock.services import stock_issue, stock_receive, stock_write_down
from stock.tasks import reconcile_nightly

pytestmark = pytest.mark.django_db


def _user(username: str, role: str, **extra) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-for-tests-123", is_staff=True, **extra)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def setup():
    manager = _user("manager", INVENTORY_MANAGER)
    warehouse = Warehouse.objects.create(code="W1", name="Main")
    for action in WarehouseAction.ALL:
        assign_perm(f"catalog.{action}", manager, warehouse)
    bin_a = Location.objects.create(warehouse=warehouse, code="A-01", name="A-01")
    item = Item.objects.create(
        sku="MUG-1", name="Mug", base_unit=UnitOfMeasure.objects.get(code="each"), valuation_method="average"
    )
    receipt = stock_receive(item=item, location=bin_a, quantity=Decimal(10), unit_cost=Decimal("2.50"), actor=manager)
    stock_issue(item=item, location=bin_a, quantity=Decimal(4), actor=manager)
    return manager, item, bin_a, receipt


def test_movement_admin_offers_no_add_change_or_delete(client, setup):
    manager, _, _, receipt = setup
    client.force_login(manager)
    assert client.get(reverse("admin:stock_movement_changelist")).status_code == 200
    assert client.get(reverse("admin:stock_movement_add")).status_code == 403
    page = client.get(reverse("admin:stock_movement_change", args=[receipt.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(reverse("admin:stock_movement_delete", args=[receipt.pk])).status_code == 403
    assert Movement.objects.filter(pk=receipt.pk).exists()


def test_reverse_action_asks_for_a_reason_then_posts_a_reversal(client, setup):
    manager, item, bin_a, _ = setup
    issue = Movement.objects.get(kind=MovementKind.ISSUE)
    client.force_login(manager)
    url = reverse("admin:stock_movement_reverse", args=[issue.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200 and b"reason" in confirm.content

    blank = client.post(url, {"confirm": "yes", "reason": ""})
    assert blank.status_code == 200  # the form again, with the error
    assert not Movement.objects.filter(reverses=issue).exists()

    done = client.post(url, {"confirm": "yes", "reason": "Sold by mistake"})
    assert done.status_code == 302
    reversal = Movement.objects.get(reverses=issue)
    assert reversal.kind == MovementKind.REVERSAL and reversal.actor == manager and reversal.note == "Sold by mistake"
    assert StockLevel.objects.get(item=item, location=bin_a).on_hand == Decimal(10)

    again = client.post(url, {"confirm": "yes", "reason": "twice"}, follow=True)
    assert b"already been reversed" in again.content
    assert Movement.objects.filter(reverses=issue).count() == 1


def test_auditor_sees_the_ledger_but_cannot_reverse(client, setup):
    auditor = _user("auditor", AUDITOR)
    issue = Movement.objects.get(kind=MovementKind.ISSUE)
    client.force_login(auditor)
    assert client.get(reverse("admin:stock_movement_changelist")).status_code == 200
    assert (
        client.post(
            reverse("admin:stock_movement_reverse", args=[issue.pk]), {"confirm": "yes", "reason": "x"}
        ).status_code
        == 403
    )
    assert not Movement.objects.filter(reverses=issue).exists()


def test_stock_card_shows_running_balance_and_value(client, setup):
    manager, item, _, _ = setup
    client.force_login(manager)
    no_warehouse = client.get(reverse("admin:stock_card"), {"item": "mug-1"})
    assert no_warehouse.context["card"] is None  # a scoped manager must pick one of their warehouses
    page = client.get(reverse("admin:stock_card"), {"item": "mug-1", "warehouse": Warehouse.objects.get().pk})
    assert page.status_code == 200
    rows = page.context["card"]["rows"]
    assert [r.balance for r in rows] == [Decimal(10), Decimal(6)]
    assert [r.value for r in rows] == [Decimal("25.0000"), Decimal("15.0000")]
    unknown = client.get(reverse("admin:stock_card"), {"item": "NOPE", "warehouse": Warehouse.objects.get().pk})
    assert unknown.status_code == 200 and b"No item with SKU" in unknown.content


def test_nightly_reconciliation_is_quiet_when_the_books_balance(setup):
    assert reconcile_nightly() == 0
    assert mail.outbox == []


def test_nightly_reconciliation_mails_managers_the_differences(setup, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _, item, bin_a, _ = setup
    with connection.cursor() as cursor:  # damage the projection behind the services' back
        cursor.execute(
            f"UPDATE {StockLevel._meta.db_table} SET on_hand = on_hand + 1 WHERE item_id = %s AND location_id = %s",
            [item.pk, bin_a.pk],
        )
    assert reconcile_nightly() >= 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["manager@example.com"]
    assert "MUG-1" in mail.outbox[0].body and "level_vs_ledger" in mail.outbox[0].body


def test_stock_card_shows_a_write_down_with_quantity_zero_and_its_value(client, setup):
    manager, item, _, _ = setup  # 10 @ 2.50 in, 4 out at 2.50: 6 on hand, 15.00
    warehouse = Warehouse.objects.get()
    entry = stock_write_down(item=item, warehouse=warehouse, amount=Decimal("3"), reason_code="scuffed", actor=manager)
    client.force_login(manager)
    page = client.get(reverse("admin:stock_card"), {"item": "mug-1", "warehouse": warehouse.pk})
    last = page.context["card"]["rows"][-1]
    assert (last.movement.pk, last.change, last.balance) == (entry.pk, Decimal(0), Decimal(6))
    assert (last.value_change, last.value) == (Decimal("-3"), Decimal("12.0000"))  # 15.00 - 3.00
    assert "Write-down (scuffed)" in page.content.decode()

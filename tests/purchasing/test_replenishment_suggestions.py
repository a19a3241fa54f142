"""Editable suggestions on the admin page: choose lines, change the quantity or the supplier;
drafts grouped by supplier; running it again updates the drafts instead of adding more; every
problem shown at once and nothing written; only those who may order can post."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from purchasing.models import PurchaseOrder, ReorderPolicy, SupplierItem

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def policies(item, lot_item, warehouse) -> dict[str, ReorderPolicy]:
    return {
        sku: ReorderPolicy.objects.create(item=i, warehouse=warehouse, reorder_point=D(5), order_up_to=D(20))
        for sku, i in (("WIDGET", item), ("MILK", lot_item))
    }


def _line(policy: ReorderPolicy, quantity: str, offer: SupplierItem | None, pick: bool = True) -> dict:
    prefix = f"policy-{policy.pk}"
    data = {f"{prefix}-quantity": quantity, f"{prefix}-offer": offer.pk if offer else ""}
    return {**data, f"{prefix}-pick": "on"} if pick else data


def test_chosen_lines_with_changed_quantity_and_supplier_and_no_second_draft(
    boss, supplier, other_supplier, policies, item, lot_item
):
    url = reverse("admin:purchasing_suggestions")
    beta = SupplierItem.objects.get(supplier=other_supplier, item=item)
    milk = SupplierItem.objects.get(supplier=supplier, item=lot_item)
    page = boss.get(url).content.decode()
    assert f'name="policy-{policies["WIDGET"].pk}-quantity" value="20"' in page  # suggested: up to 20

    # WIDGET from BETA (not the preferred ACME), 24 instead of 20; MILK not chosen
    boss.post(url, {**_line(policies["WIDGET"], "24", beta), **_line(policies["MILK"], "20", milk, pick=False)})
    (order,) = PurchaseOrder.objects.all()
    assert order.supplier == other_supplier
    assert [(line.item.sku, line.quantity, line.unit_cost) for line in order.lines.all()] == [("WIDGET", 24, D("2.00"))]

    # Again, 30 this time, and MILK chosen: BETA's draft takes 30 (set, not 54); ACME gets its own draft
    boss.post(url, {**_line(policies["WIDGET"], "30", beta), **_line(policies["MILK"], "20", milk)})
    assert PurchaseOrder.objects.count() == 2
    order.refresh_from_db()
    assert [(line.item.sku, line.quantity) for line in order.lines.all()] == [("WIDGET", 30)]
    acme = PurchaseOrder.objects.get(supplier=supplier)
    assert [(line.item.sku, line.quantity) for line in acme.lines.all()] == [("MILK", 20)]


def test_every_problem_is_shown_at_once_and_nothing_is_ordered(boss, supplier, policies, item, lot_item):
    url = reverse("admin:purchasing_suggestions")
    widget = SupplierItem.objects.get(supplier=supplier, item=item)
    response = boss.post(url, {**_line(policies["WIDGET"], "0", widget), **_line(policies["MILK"], "1.5", None)})
    page = response.content.decode()
    assert response.status_code == 200 and "Nothing was ordered: correct the lines marked below." in page
    assert "Give a quantity of WIDGET above zero" in page
    assert "Choose who sells MILK" in page
    assert "MILK is counted in whole units (each); 1.5 is not allowed." in page  # said at the same time
    assert not PurchaseOrder.objects.exists()


def test_nothing_chosen_orders_nothing(boss, supplier, policies, item, lot_item):
    url = reverse("admin:purchasing_suggestions")
    response = boss.post(url, _line(policies["WIDGET"], "5", None, pick=False), follow=True)
    assert "choose at least one line" in response.content.decode()
    assert not PurchaseOrder.objects.exists()


def test_who_may_not_order_cannot_post(client, person, supplier, policies, item):
    viewer = person("Warehouse clerk", "view_warehouse_stock")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_reorderpolicy"))
    client.force_login(viewer)
    widget = SupplierItem.objects.get(supplier=supplier, item=item)
    response = client.post(reverse("admin:purchasing_suggestions"), _line(policies["WIDGET"], "5", widget))
    assert response.status_code == 403 and not PurchaseOrder.objects.exists()

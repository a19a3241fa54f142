"""The purchasing admin: suppliers, policies and orders pages; suggestions to draft orders;
placing by action; the receiving page (received, refused with a message and nothing written);
scoped to the user's warehouses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from purchasing.models import PurchaseOrder, PurchaseOrderStatus, ReorderPolicy, SupplierItem
from purchasing.services import OrderLine, purchase_order_create, purchase_order_place
from stock.models import Lot
from tests.stock.factories import level_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def placed(supplier, warehouse, item, lot_item, actor) -> PurchaseOrder:
    draft = purchase_order_create(
        supplier=supplier,
        warehouse=warehouse,
        lines=[OrderLine(item, Decimal(10)), OrderLine(lot_item, Decimal(4))],
        actor=actor,
    )
    return purchase_order_place(order=draft, actor=actor)


def _receive_form(order, rows, key="key-1"):
    data = {"form-TOTAL_FORMS": str(len(rows)), "form-INITIAL_FORMS": str(len(rows)), "idempotency_key": key}
    for n, row in enumerate(rows):
        for field, value in row.items():
            data[f"form-{n}-{field}"] = value
    return data


@pytest.mark.parametrize("model", ["supplier", "supplieritem", "reorderpolicy", "purchaseorder"])
def test_every_purchasing_list_and_add_page_opens(boss, supplier, placed, model):
    for page in ("changelist", "add"):
        assert boss.get(reverse(f"admin:purchasing_{model}_{page}")).status_code == 200


def test_suggestions_page_lists_what_to_reorder_and_makes_draft_orders(boss, supplier, warehouse, item):
    ReorderPolicy.objects.create(item=item, warehouse=warehouse, reorder_point=Decimal(5), order_up_to=Decimal(20))
    url = reverse("admin:purchasing_suggestions")

    page = boss.get(url)
    assert (
        page.status_code == 200
        and "WIDGET" in page.content.decode()
        and "Make draft purchase orders" in page.content.decode()
    )

    policy = ReorderPolicy.objects.get()
    offer = SupplierItem.objects.get(supplier=supplier, item=item)
    chosen = {
        f"policy-{policy.pk}-pick": "on",
        f"policy-{policy.pk}-quantity": "20",
        f"policy-{policy.pk}-offer": offer.pk,
    }
    response = boss.post(url, chosen)
    assert response.status_code == 302
    order = PurchaseOrder.objects.get()
    assert (order.status, order.supplier, [(line.item.sku, line.quantity) for line in order.lines.all()]) == (
        PurchaseOrderStatus.DRAFT,
        supplier,
        [("WIDGET", Decimal(20))],
    )


def test_the_place_action_places_drafts_and_reports_refusals(boss, supplier, warehouse, item, actor, placed):
    draft = purchase_order_create(
        supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, Decimal(1))], actor=actor
    )
    response = boss.post(
        reverse("admin:purchasing_purchaseorder_changelist"),
        {"action": "place_orders", "_selected_action": [draft.pk, placed.pk]},
        follow=True,
    )
    draft.refresh_from_db()
    assert draft.status == PurchaseOrderStatus.ORDERED
    assert f"{placed.number}: {placed.number} is ordered: only a draft can be placed." in response.content.decode()


def test_the_receiving_page_receives_into_the_chosen_bins(boss, placed, bin_a, bin_b, item, lot_item):
    url = reverse("admin:purchasing_purchaseorder_receive", args=[placed.pk])
    page = boss.get(url)
    assert page.status_code == 200 and page.content.decode().count('name="form-') > 4
    assert 'value="10"' in page.content.decode()  # what is outstanding, as people write it
    widget, milk = placed.lines.get(item=item), placed.lines.get(item=lot_item)

    response = boss.post(
        url,
        _receive_form(
            placed,
            [
                {"line": widget.pk, "quantity": "6", "location": bin_a.pk},
                {"line": milk.pk, "quantity": "4", "location": bin_b.pk, "lot": "L-9", "expiry_date": "2031-01-31"},
            ],
        ),
    )

    assert response.status_code == 302
    assert level_of(item, bin_a)[0] == 6 and level_of(lot_item, bin_b, Lot.objects.get(code="L-9"))[0] == 4
    placed.refresh_from_db()
    assert placed.status == PurchaseOrderStatus.PARTIALLY_RECEIVED
    again = boss.post(url, _receive_form(placed, [{"line": widget.pk, "quantity": "6", "location": bin_a.pk}]))
    assert again.status_code == 302 and level_of(item, bin_a)[0] == 6  # the same form key: received once


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"quantity": "11"}, "10 ordered, 0 received, 10 outstanding; cannot receive 11"),
        ({"quantity": "1", "location": ""}, "Choose where WIDGET goes."),
        ({"quantity": "2.5"}, "WIDGET is counted in whole units (each); 2.5 is not allowed."),  # issue 12
    ],
)
def test_a_refused_receipt_says_why_and_writes_nothing(boss, placed, bin_a, item, snapshot, row, message):
    widget = placed.lines.get(item=item)
    before = snapshot()

    response = boss.post(
        reverse("admin:purchasing_purchaseorder_receive", args=[placed.pk]),
        _receive_form(placed, [{"line": widget.pk, "location": bin_a.pk, **row}]),
    )

    assert response.status_code == 200 and message in response.content.decode()
    assert snapshot() == before
    placed.refresh_from_db()
    assert placed.status == PurchaseOrderStatus.ORDERED


def test_another_warehouses_order_is_not_found(client, placed, person):
    elsewhere = person("Purchasing manager")  # no grant on WH1
    elsewhere.is_staff = True
    elsewhere.save()
    client.force_login(elsewhere)
    assert client.get(reverse("admin:purchasing_purchaseorder_receive", args=[placed.pk])).status_code == 404
    assert client.get(reverse("admin:purchasing_purchaseorder_change", args=[placed.pk])).status_code in (302, 404)
    assert placed.number not in client.get(reverse("admin:purchasing_purchaseorder_changelist")).content.decode()


def test_a_draft_line_finer_than_its_unit_is_refused_in_the_admin_and_nothing_changes(boss, supplier, warehouse, item):
    draft = purchase_order_create(
        supplier=supplier, warehouse=warehouse, lines=[OrderLine(item, Decimal(10))], actor=None
    )
    line = draft.lines.get()
    url = reverse("admin:purchasing_purchaseorder_change", args=[draft.pk])
    form = {
        "supplier": supplier.pk,
        "warehouse": draft.warehouse_id,
        "expected_on": "",
        "notes": "",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "1",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-id": line.pk,
        "lines-0-order": draft.pk,
        "lines-0-item": item.pk,
        "lines-0-quantity": "2.5",
        "lines-0-unit_cost": "2.50",
    }

    response = boss.post(url, form)

    assert response.status_code == 200
    assert "WIDGET is counted in whole units (each); 2.5 is not allowed." in response.content.decode()
    assert draft.lines.get().quantity == 10


def test_policies_offers_and_placed_lines_show_quantities_with_their_unit(boss, supplier, warehouse, item, placed):
    # WIDGET is counted in "each" (0 places): 3.0000 in the database reads "3 each" on the page.
    ReorderPolicy.objects.create(
        item=item, warehouse=warehouse, reorder_point=Decimal(3), safety_stock=Decimal(1), order_up_to=Decimal(6)
    )
    SupplierItem.objects.filter(supplier=supplier, item=item).update(
        min_order_quantity=Decimal(5), order_multiple=Decimal(5)
    )

    policies = boss.get(reverse("admin:purchasing_reorderpolicy_changelist")).content.decode()
    offers = boss.get(reverse("admin:purchasing_supplieritem_changelist")).content.decode()
    order = boss.get(reverse("admin:purchasing_purchaseorder_change", args=[placed.pk])).content.decode()

    assert "3.0000" not in policies and "5.0000" not in offers and "10.0000" not in order  # before: 4 places
    assert all(text in policies for text in ("3 each", "1 each", "6 each"))
    assert "5 each" in offers
    assert "10 each" in order  # the placed line's quantity, read-only


def test_admin_inputs_show_stored_decimals_as_people_write_them(boss, supplier, warehouse, item):
    policy = ReorderPolicy.objects.create(
        item=item, warehouse=warehouse, reorder_point=Decimal(3), safety_stock=Decimal("1.5"), order_up_to=Decimal(6)
    )

    page = boss.get(reverse("admin:purchasing_reorderpolicy_change", args=[policy.pk])).content.decode()

    assert 'name="reorder_point" value="3"' in page and 'name="safety_stock" value="1.5"' in page

"""What a manager tripped over (issue 16): each finding with the behaviour it has now."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from catalog.models import Item
from stock.models import AdjustmentRequest, AdjustmentRequestStatus, Movement
from stock.services import InvalidMovement, adjustment_request_reject

D = Decimal


@pytest.fixture
def root(ledger) -> User:
    return User.objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def pending(ask_adjustment) -> AdjustmentRequest:
    return ask_adjustment()


def _text(response) -> str:  # noqa: ANN001
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_audit_shows_an_empty_field_as_empty_not_as_a_deleted_user(pending, manager, client_for):
    adjustment_request_reject(request=pending, actor=manager, note="Counted again: all there.")
    page = _text(client_for(manager).get("/admin/audit-trail/"))
    assert "decided by: (empty) → inventory_manager" in page
    assert "Deleted user" not in page and "pk=None" not in page


def test_audit_csv_times_are_local_seconds_without_offset(pending, manager, client_for):
    response = client_for(manager).get("/admin/audit-trail/", {"format": "csv"})
    lines = b"".join(response.streaming_content).decode().splitlines()[1:]
    assert lines
    for line in lines:
        assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},", line), line  # no microseconds, no +00:00


@pytest.mark.parametrize(
    "url",
    [
        "/admin/catalog/item/abc/history/",
        "/admin/catalog/item/999999/history/",
        "/admin/stock/lot/abc/history/",
        "/admin/stock/adjustmentrequest/abc/history/",
        "/admin/catalog/location/1x/history/",
    ],
)
def test_a_typed_history_url_of_nothing_is_a_404(root, url):
    client = Client(raise_request_exception=False)
    client.force_login(root)
    assert client.get(url).status_code == 404


def test_reject_asks_for_the_reason_and_rejects_nothing_without_it(pending, manager, client_for):
    client = client_for(manager)
    url = "/admin/stock/adjustmentrequest/"
    first = client.post(url, {"action": "reject_requests", "_selected_action": [pending.pk]})
    assert first.status_code == 200 and 'name="reason"' in first.content.decode()
    blank = client.post(
        url, {"action": "reject_requests", "_selected_action": [pending.pk], "confirm": "yes", "reason": "  "}
    )
    assert blank.status_code == 200 and "This field is required" in blank.content.decode()
    pending.refresh_from_db()
    assert pending.status == AdjustmentRequestStatus.PENDING  # nothing decided yet
    done = client.post(
        url,
        {"action": "reject_requests", "_selected_action": [pending.pk], "confirm": "yes", "reason": "Found it on A2."},
    )
    assert done.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.decision_note, pending.movement_id) == ("rejected", "Found it on A2.", None)


def test_the_service_refuses_a_rejection_without_reason(pending, manager):
    with pytest.raises(InvalidMovement, match="reason"):
        adjustment_request_reject(request=pending, actor=manager, note=" ")
    pending.refresh_from_db()
    assert pending.status == AdjustmentRequestStatus.PENDING


def test_deleting_an_item_with_history_says_why_even_to_a_superuser(ledger, root):
    client = Client()
    client.force_login(root)
    widget = ledger["widget"]
    response = client.get(f"/admin/catalog/item/{widget.pk}/delete/", follow=True)
    page = _text(response)
    assert "has stock history" in page and "Discontinue it instead" in page
    assert "permission to delete" not in page
    bulk = _text(client.post("/admin/catalog/item/", {"action": "delete_selected", "_selected_action": [widget.pk]}))
    assert "has stock history" in bulk and "permission to delete" not in bulk
    assert Item.objects.filter(pk=widget.pk).exists() and Movement.objects.filter(item=widget).count() == 8


def test_an_item_without_history_can_still_be_deleted(ledger, root):
    spare = Item.objects.create(sku="SPARE", name="Spare", base_unit=ledger["each"])
    client = Client()
    client.force_login(root)
    assert client.post(f"/admin/catalog/item/{spare.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Item.objects.filter(pk=spare.pk).exists()

"""The counts API (docs/api.md, "Counts"): start, count, submit, recount, approve, reject, with
the permissions and warehouse scope of every other endpoint.

World (tests/api/conftest.py): A/BIN-1 holds 10 WIDGET (cost 2) and 6 MILK of lot L-LATE (cost
1); A/BIN-2 holds 5 WIDGET and 4 MILK L-EARLY. Both items are class C (2 % / 50.00).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from common import roles
from counting.models import Count, CountLine
from stock.models import Movement, StockLevel

pytestmark = pytest.mark.django_db

URL = "/api/v1/counts/"


def _level(world, sku: str, bin_name: str = "bin1") -> Decimal:  # noqa: ANN001
    levels = StockLevel.objects.filter(item__sku=sku, location=world["A"][bin_name])
    return sum((level.on_hand for level in levels), Decimal(0))


@pytest.fixture
def people(user, api):  # noqa: ANN001, ANN201
    manager = user(roles.INVENTORY_MANAGER)
    clerk = user(roles.WAREHOUSE_CLERK, username="clerk_one")
    other = user(roles.WAREHOUSE_CLERK, username="clerk_two")
    return {"manager": api(manager), "clerk": api(clerk), "other": api(other)}


def _line(body: dict, sku: str) -> dict:
    return next(line for line in body["lines"] if line["sku"] == sku)


def test_a_full_count_through_the_api(world, people):
    manager, clerk, other = people["manager"], people["clerk"], people["other"]
    started = manager.post(URL, {"warehouse": "A", "locations": ["BIN-1"]}, format="json")
    assert started.status_code == 201, started.json()
    count = started.json()
    assert sorted((line["sku"], line["lot"], line["status"]) for line in count["lines"]) == [
        ("MILK", "L-LATE", "to_count"),
        ("WIDGET", None, "to_count"),
    ]
    assert all(line["book_quantity"] is None and line["variance"] is None for line in count["lines"])
    lines_url = f"{URL}{count['id']}/lines/"
    first = clerk.post(
        lines_url, {"location": "BIN-1", "sku": "WIDGET", "quantity": "10"}, format="json", HTTP_IDEMPOTENCY_KEY="w1"
    )
    assert first.status_code == 201, first.json()
    again = clerk.post(
        lines_url, {"location": "BIN-1", "sku": "WIDGET", "quantity": "10"}, format="json", HTTP_IDEMPOTENCY_KEY="w1"
    )
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    milk = clerk.post(lines_url, {"location": "LOC-A-1", "sku": "MILK", "lot": "L-LATE", "quantity": 5}, format="json")
    assert milk.status_code == 201, milk.json()
    shown = clerk.get(f"{URL}{count['id']}/").json()  # blind and open: no book quantity, no variance
    assert all(line["book_quantity"] is None and line["variance"] is None for line in shown["lines"])

    submitted = clerk.post(f"{URL}{count['id']}/submit/")
    assert submitted.status_code == 200, submitted.json()
    body = submitted.json()
    widget, milk_line = _line(body, "WIDGET"), _line(body, "MILK")
    assert (widget["status"], widget["book_quantity"], widget["variance"]) == ("posted", "10.0000", "0.0000")
    # MILK: 5 - 6 = -1; 2 % of 6 = 0.12 < 1 -> beyond tolerance: a recount by another clerk.
    assert (milk_line["status"], milk_line["variance"]) == ("recount", "-1.0000")
    recount_line = CountLine.objects.get(pk=milk_line["recount_line"])

    listed = other.get(URL, {"warehouse": "A", "status": "open"}).json()
    assert [c["id"] for c in listed["results"]] == [recount_line.count_id]
    refused = clerk.post(
        f"{URL}{recount_line.count_id}/lines/", {"location": "BIN-1", "sku": "MILK", "lot": "L-LATE", "quantity": 5}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    recounted = other.post(
        f"{URL}{recount_line.count_id}/lines/",
        {"location": "BIN-1", "sku": "MILK", "lot": "L-LATE", "quantity": 5},
        format="json",
    )
    assert recounted.status_code == 201
    waiting = _line(other.post(f"{URL}{recount_line.count_id}/submit/").json(), "MILK")
    assert waiting["status"] == "waiting"

    approve_url = f"{URL}{recount_line.count_id}/lines/{recount_line.pk}/approve/"
    bad = manager.post(approve_url, {"reason": "gremlins"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    assert clerk.post(approve_url, {"reason": "damaged"}, format="json").status_code == 403
    assert _level(world, "MILK") == Decimal(6)  # nothing posted by the refusals
    approved = manager.post(approve_url, {"reason": "damaged"}, format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "approved" and approved.json()["reason"] == "damaged"
    assert _level(world, "MILK") == Decimal(5)  # 6 - 1
    movement = Movement.objects.get(pk=approved.json()["movement"])
    assert (movement.reference_type, movement.reference_id) == ("counting.count", str(recount_line.count_id))


def test_reject_with_a_recount(world, people):
    manager, clerk, other = people["manager"], people["clerk"], people["other"]
    count = manager.post(URL, {"warehouse": "A", "items": ["WIDGET"]}, format="json").json()
    for bin_code in ("BIN-1", "BIN-2"):
        clerk.post(f"{URL}{count['id']}/lines/", {"location": bin_code, "sku": "WIDGET", "quantity": 0}, format="json")
    body = clerk.post(f"{URL}{count['id']}/submit/").json()
    recount = CountLine.objects.get(pk=_line(body, "WIDGET")["recount_line"]).count
    for line in recount.lines.all():
        other.post(
            f"{URL}{recount.pk}/lines/", {"location": line.location.code, "sku": "WIDGET", "quantity": 0}, format="json"
        )
    other.post(f"{URL}{recount.pk}/submit/")
    line = recount.lines.order_by("location__code").first()
    rejected = manager.post(f"{URL}{recount.pk}/lines/{line.pk}/reject/", {"reason": "unknown", "recount": True})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert _level(world, "WIDGET") == Decimal(10)  # stock left alone
    assert Count.objects.filter(kind="recount", status="open").count() == 1


def test_a_count_that_is_not_blind_shows_the_book_while_open(world, people):
    body = people["manager"].post(URL, {"warehouse": "A", "items": ["WIDGET"], "blind": False}, format="json").json()
    assert sorted((line["location"], line["book_quantity"]) for line in body["lines"]) == [
        ("BIN-1", "10.0000"),
        ("BIN-2", "5.0000"),
    ]


def test_bad_input_and_other_warehouses(world, people, admin_api):
    manager, clerk = people["manager"], people["clerk"]
    assert manager.post(URL, {"warehouse": "A", "items": ["NOPE"]}, format="json").json()["code"] == "unknown_sku"
    assert manager.post(URL, {"warehouse": "B", "locations": ["BIN-1"]}, format="json").status_code == 403
    assert clerk.post(URL, {"warehouse": "A", "locations": ["BIN-1"]}, format="json").status_code == 403
    count = manager.post(URL, {"warehouse": "A", "locations": ["BIN-1"]}, format="json").json()
    negative = clerk.post(f"{URL}{count['id']}/lines/", {"location": "BIN-1", "sku": "WIDGET", "quantity": "-1"})
    assert negative.status_code == 400 and negative.json()["code"] == "validation_error"
    lot = clerk.post(f"{URL}{count['id']}/lines/", {"location": "BIN-1", "sku": "MILK", "lot": "NO", "quantity": 1})
    assert lot.status_code == 400 and lot.json()["code"] == "unknown_lot"
    assert CountLine.objects.filter(count_id=count["id"], counted_quantity__isnull=False).count() == 0
    in_b = admin_api.post(URL, {"warehouse": "B", "locations": ["BIN-1"]}, format="json").json()
    assert clerk.get(f"{URL}{in_b['id']}/").status_code == 404
    assert clerk.post(f"{URL}{in_b['id']}/submit/").status_code == 404
    assert in_b["id"] not in [c["id"] for c in clerk.get(URL).json()["results"]]


def test_a_pack_unit_is_converted_to_the_base_unit(world, people):
    from catalog.models import UnitOfMeasure

    UnitOfMeasure.objects.create(code="duo", name="Duo", ratio=Decimal(2))  # 1 duo = 2 each
    count = people["manager"].post(URL, {"warehouse": "A", "locations": ["BIN-1"]}, format="json").json()
    url = f"{URL}{count['id']}/lines/"
    line = people["clerk"].post(url, {"location": "BIN-1", "sku": "WIDGET", "quantity": 5, "unit": "duo"})
    assert line.status_code == 201 and line.json()["counted_quantity"] == "10.0000"  # 5 duos x 2
    unknown = people["clerk"].post(url, {"location": "BIN-1", "sku": "WIDGET", "quantity": 5, "unit": "crate"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_unit"


def test_a_refused_role_is_told_which_permission_it_lacks_and_nothing_is_written(world, people, user, api):
    """An auditor (reads only) counting, a clerk starting a count: 403 naming the missing
    permission, not DRF's generic sentence; no count, no line written."""
    started = people["manager"].post(URL, {"warehouse": "A", "locations": ["BIN-1"]}, format="json").json()
    auditor = api(user(roles.AUDITOR, username="auditor_one"))
    counted = auditor.post(
        f"{URL}{started['id']}/lines/", {"location": "BIN-1", "sku": "WIDGET", "quantity": "3"}, format="json"
    )
    assert counted.status_code == 403
    assert counted.json()["code"] == "permission_denied"
    assert "auditor_one lacks the permission counting.change_count" in counted.json()["detail"]
    assert not CountLine.objects.filter(count_id=started["id"], counted_quantity__isnull=False).exists()
    refused = people["clerk"].post(URL, {"warehouse": "A", "items": ["WIDGET"]}, format="json")
    assert refused.status_code == 403
    assert "clerk_one lacks the permission counting.add_count" in refused.json()["detail"]
    assert Count.objects.count() == 1


def test_the_clerk_who_recounts_does_not_see_the_first_count_nor_the_book(world, people):
    """WIDGET in BIN-1: book 10, the first clerk counts 7 (-3, beyond 2 % of 10 = 0.2): a
    recount. The first clerk and the manager see 7 / 10 / -3 on the first count; the other
    clerk, who must recount it blind, sees none of these numbers there (nor on the recount)."""
    manager, clerk, other = people["manager"], people["clerk"], people["other"]
    count = manager.post(URL, {"warehouse": "A", "locations": ["BIN-1"]}, format="json").json()
    lines_url = f"{URL}{count['id']}/lines/"
    clerk.post(lines_url, {"location": "BIN-1", "sku": "WIDGET", "quantity": "7"}, format="json")
    clerk.post(lines_url, {"location": "BIN-1", "sku": "MILK", "lot": "L-LATE", "quantity": "6"}, format="json")
    submitted = _line(clerk.post(f"{URL}{count['id']}/submit/").json(), "WIDGET")
    numbers = ("status", "counted_quantity", "book_quantity", "variance", "variance_value")
    assert tuple(submitted[k] for k in numbers) == ("recount", "7.0000", "10.0000", "-3.0000", "-6.0000")  # -3 x 2.00
    seen_by_manager = _line(manager.get(f"{URL}{count['id']}/").json(), "WIDGET")
    assert seen_by_manager["variance"] == "-3.0000"
    seen_by_other = _line(other.get(f"{URL}{count['id']}/").json(), "WIDGET")
    assert tuple(seen_by_other[k] for k in numbers) == ("recount", None, None, None, None)
    listed = other.get(URL, {"warehouse": "A"}).json()["results"]
    first = next(c for c in listed if c["id"] == count["id"])
    assert _line(first, "WIDGET")["book_quantity"] is None and _line(first, "WIDGET")["counted_quantity"] is None
    recount = CountLine.objects.get(pk=submitted["recount_line"]).count
    assert all(line["book_quantity"] is None for line in other.get(f"{URL}{recount.pk}/").json()["lines"])
    milk = _line(other.get(f"{URL}{count['id']}/").json(), "MILK")  # within tolerance: posted, shown to all
    assert (milk["status"], milk["book_quantity"], milk["variance"]) == ("posted", "6.0000", "0.0000")

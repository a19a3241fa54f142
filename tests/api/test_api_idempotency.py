"""The ``Idempotency-Key`` header: a retried write gets the first response (status and body) and
writes nothing new, keys are per user, a key reused for another request is refused, a refused
request leaves no key behind, old answers are purged (and a late retry still posts nothing new).
Concurrent retries: test_api_idempotency_races.py."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from common.models import IdempotentRequest
from common.services import idempotent_requests_purge
from stock import services
from stock.models import Movement, Reservation
from stock.tasks import purge_idempotency_keys
from tests.stock.factories import ledger_snapshot

SALE = {"reference": "ORDER-9", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": "2"}]}


def test_a_retried_sale_gets_the_first_answer_and_posts_once(world, admin_api):
    first = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-1")
    services.stock_issue(item=world["widget"], location=world["A"]["bin2"], quantity=Decimal(1), actor=None)
    after_first = ledger_snapshot()

    retry = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()  # "available" as it was then, not as it is now
    assert retry["Idempotent-Replayed"] == "true"
    assert ledger_snapshot() == after_first
    assert Movement.objects.filter(reference_id="ORDER-9").count() == 1


def test_the_ledger_rows_name_the_users_key(world, admin_api, admin_user):
    admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-2")

    assert Movement.objects.filter(idempotency_key=f"api:{admin_user.pk}:k-2").count() == 1


def test_keys_are_per_user(world, admin_api, api):
    other = api(User.objects.create_superuser("root2", password=None))

    first = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="same")
    second = other.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="same")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert Movement.objects.filter(reference_id="ORDER-9").count() == 2


def test_a_key_reused_for_another_request_is_refused(world, admin_api):
    admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-3")
    before = ledger_snapshot()

    other_body = admin_api.post("/api/v1/sales/", {**SALE, "reference": "ORDER-10"}, HTTP_IDEMPOTENCY_KEY="k-3")
    other_path = admin_api.post("/api/v1/returns/", SALE, HTTP_IDEMPOTENCY_KEY="k-3")

    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_key_reused")
    assert (other_path.status_code, other_path.json()["code"]) == (422, "idempotency_key_reused")
    assert ledger_snapshot() == before


def test_a_refused_request_leaves_its_key_free(world, admin_api):
    too_much = {**SALE, "lines": [{"sku": "WIDGET", "quantity": "20"}]}

    refused = admin_api.post("/api/v1/sales/", too_much, HTTP_IDEMPOTENCY_KEY="k-4")
    services.stock_receive(item=world["widget"], location=world["A"]["bin1"], quantity=Decimal(10), actor=None)
    retried = admin_api.post("/api/v1/sales/", too_much, HTTP_IDEMPOTENCY_KEY="k-4")

    assert (refused.status_code, retried.status_code) == (409, 201)
    assert IdempotentRequest.objects.get().status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 101, "with space", "tab\tkey", "é"])
def test_invalid_keys_are_validation_errors(world, admin_api, key):
    response = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY=key)

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert "Idempotency-Key" in response.json()["fields"]
    assert not Movement.objects.filter(reference_id="ORDER-9").exists()


def _writes(world) -> dict:
    """Every writing endpoint: (path, body) for a first request that succeeds."""
    receipt = services.stock_receive(
        item=world["widget"], location=world["A"]["bin1"], quantity=Decimal(1), unit_cost=Decimal(1), actor=None
    )
    reservation = services.reservation_create(
        item=world["widget"], warehouse=world["A"]["warehouse"], quantity=Decimal(3), actor=None
    )
    movement = {"kind": "receipt", "sku": "WIDGET", "quantity": "1", "warehouse": "A", "to_location": "BIN-1"}
    return {
        "sale": ("/api/v1/sales/", SALE),
        "return": ("/api/v1/returns/", {**SALE, "lines": [{"sku": "WIDGET", "quantity": 1, "location": "BIN-1"}]}),
        "movement": ("/api/v1/movements/", movement),
        "bulk": ("/api/v1/movements/bulk/", {"lines": [movement, movement]}),
        "reverse": (f"/api/v1/movements/{receipt.pk}/reverse/", {"reason": "wrong"}),
        "reserve": ("/api/v1/reservations/", {"sku": "WIDGET", "warehouse": "A", "quantity": "1"}),
        "release": (f"/api/v1/reservations/{reservation.pk}/release/", {"quantity": "1"}),
        "consume": (f"/api/v1/reservations/{reservation.pk}/consume/", {"quantity": "1"}),
    }


def _state() -> tuple:
    return ledger_snapshot(), sorted(Reservation.objects.values_list("id", "consumed", "released", "status"))


@pytest.mark.parametrize("name", ["sale", "return", "movement", "bulk", "reverse", "reserve", "release", "consume"])
def test_every_write_is_idempotent(world, admin_api, name):
    path, body = _writes(world)[name]

    first = admin_api.post(path, body, HTTP_IDEMPOTENCY_KEY=f"key-{name}")
    state = _state()
    retry = admin_api.post(path, body, HTTP_IDEMPOTENCY_KEY=f"key-{name}")

    assert first.status_code in (200, 201), first.json()
    assert (retry.status_code, retry.json()) == (first.status_code, first.json())
    assert _state() == state


def test_old_stored_answers_are_purged_and_a_late_retry_posts_nothing_new(world, admin_api, settings):
    settings.API_IDEMPOTENCY_RETENTION_DAYS = 30
    first = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-old")
    admin_api.post("/api/v1/sales/", {**SALE, "reference": "ORDER-11"}, HTTP_IDEMPOTENCY_KEY="k-new")
    IdempotentRequest.objects.filter(key__endswith=":k-old").update(created_at=timezone.now() - timedelta(days=31))

    assert purge_idempotency_keys() == 1
    assert [key.split(":", 1)[1] for key in IdempotentRequest.objects.values_list("key", flat=True)] == ["k-new"]

    before = ledger_snapshot()
    retry = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-old")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert retry.json()["id"] == first.json()["id"]  # the ledger's key found the first sale
    assert ledger_snapshot() == before
    assert Movement.objects.filter(reference_id="ORDER-9").count() == 1


def test_the_purge_deletes_in_chunks_and_keeps_what_is_recent(world, admin_api):
    for n in range(5):
        admin_api.post("/api/v1/sales/", {**SALE, "reference": f"ORDER-{20 + n}"}, HTTP_IDEMPOTENCY_KEY=f"c-{n}")
    cutoff = timezone.now()
    admin_api.post("/api/v1/sales/", {**SALE, "reference": "ORDER-30"}, HTTP_IDEMPOTENCY_KEY="c-late")

    assert idempotent_requests_purge(before=cutoff, chunk=2) == 5
    assert IdempotentRequest.objects.get().key.endswith(":c-late")
    assert idempotent_requests_purge(before=cutoff) == 0


def test_a_late_retry_after_the_stock_ran_out_still_answers_with_the_first_sale(world, admin_api):
    """The API tells the posting its key is fresh (just claimed), so the posting skips its own
    look-up; a key whose stored answer was purged is answered by the ledger all the same, also
    when the plan is refused first because the stock has gone since."""
    first = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-late")
    IdempotentRequest.objects.all().delete()  # purged
    # WIDGET in A: 10 (BIN-1) + 5 (BIN-2); the first sale took 2 from BIN-1 (no expiry: first
    # bin first) -> 8 + 5 left, and all of it goes now
    services.stock_issue(item=world["widget"], location=world["A"]["bin1"], quantity=Decimal(8), actor=None)
    services.stock_issue(item=world["widget"], location=world["A"]["bin2"], quantity=Decimal(5), actor=None)
    before = ledger_snapshot()

    retry = admin_api.post("/api/v1/sales/", SALE, HTTP_IDEMPOTENCY_KEY="k-late")

    assert retry.status_code == 201, retry.json()
    assert retry.json()["id"] == first.json()["id"]
    assert ledger_snapshot() == before
    assert Movement.objects.filter(reference_id="ORDER-9").count() == 1


def test_a_retry_that_the_write_would_now_refuse_replays_the_first_answer(world, admin_api):
    """The answer is kept at the end of the write's transaction, so a retry runs the write
    again first: when that is refused (here: nothing left to release), the stored answer is
    replayed, not the refusal, and the refusal's rollback leaves everything as it was."""
    reservation = services.reservation_create(
        item=world["widget"], warehouse=world["A"]["warehouse"], quantity=Decimal(1), actor=None
    )
    path = f"/api/v1/reservations/{reservation.pk}/release/"
    first = admin_api.post(path, {"quantity": "1"}, HTTP_IDEMPOTENCY_KEY="k-release")
    state = sorted(Reservation.objects.values_list("id", "released", "status"))
    plain = admin_api.post(path, {"quantity": "1"})  # without the key: the write itself is refused

    retry = admin_api.post(path, {"quantity": "1"}, HTTP_IDEMPOTENCY_KEY="k-release")

    assert first.status_code == 200, first.json()
    assert plain.status_code >= 400
    assert (retry.status_code, retry.json()) == (200, first.json())
    assert retry["Idempotent-Replayed"] == "true"
    assert sorted(Reservation.objects.values_list("id", "released", "status")) == state
    assert IdempotentRequest.objects.count() == 1


def test_a_retry_that_the_write_would_repeat_is_rolled_back_and_replayed(world, admin_api):
    """A reservation has no key of its own in the ledger: the retry creates a second one, finds
    the key taken at its claim, rolls back and replays the first answer."""
    body = {"sku": "WIDGET", "warehouse": "A", "quantity": "1"}
    first = admin_api.post("/api/v1/reservations/", body, HTTP_IDEMPOTENCY_KEY="k-reserve")

    retry = admin_api.post("/api/v1/reservations/", body, HTTP_IDEMPOTENCY_KEY="k-reserve")

    assert first.status_code == 201, first.json()
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert Reservation.objects.count() == 1

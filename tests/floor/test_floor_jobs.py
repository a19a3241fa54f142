"""The floor jobs with the Django test client, scan by scan: receive, move, pick, scrap / adjust;
every refusal says what happened and writes nothing; a form sent twice posts once."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone
from guardian.shortcuts import remove_perm

from catalog.models import Item
from catalog.permissions import WarehousePermissionDenied
from stock import services
from stock.models import AdjustmentRequest, AdjustmentRequestStatus, Lot, Movement, MovementKind
from tests.floor.conftest import CANDLE_EAN, COFFEE_EAN, KNIFE_EAN, signed_in
from tests.stock.factories import layers_of, ledger_snapshot, level_of

pytestmark = pytest.mark.django_db


def floor_key(world, scanner_) -> str:  # noqa: ANN001
    return f"floor:{world.clerk.pk}:{scanner_.fields['key']}"


# --- Every posting form carries an idempotency key ------------------------------------------------


@pytest.mark.parametrize("slug", ["receive", "move", "pick", "scrap"])
def test_every_job_form_has_a_hidden_idempotency_key_and_a_focused_scan_field(scanner, slug):
    page = scanner(slug)
    assert re.search(r'<input type="hidden" name="key" value="[0-9a-f-]{36}">', page.html)
    assert re.search(r'<input id="scan" name="scan"[^>]*autofocus', page.html)
    another = scanner(slug)
    assert another.fields["key"] != page.fields["key"], "every form gets its own key"


# --- Receive ---------------------------------------------------------------------------------------


def test_receive_untracked_item_in_three_entries_posts_a_receipt_by_the_clerk(world, scanner):
    page = scanner("receive")
    key = floor_key(world, page)
    assert page.prompt.endswith("Scan the item")
    page.scan(KNIFE_EAN)
    assert "Type the quantity (each)" in page.prompt
    page.scan("5")
    assert "Scan the bin you put it in" in page.prompt
    page.scan("LOC-AMS-DOCK-IN")

    movement = Movement.objects.get(idempotency_key=key)
    assert (movement.kind, movement.item, movement.quantity) == (MovementKind.RECEIPT, world.knife, Decimal(5))
    assert movement.destination == world.bins["DOCK-IN"] and movement.actor == world.clerk
    assert level_of(world.knife, world.bins["DOCK-IN"]) == (Decimal(5), Decimal(0))
    assert "Received 5 each KNF-0001 Chef's knife 20 cm into DOCK-IN" in page.result
    assert page.prompt.endswith("Scan the item"), "a fresh form follows the result"
    assert page.fields["key"] != key.rsplit(":", 1)[1]


def test_receive_lot_tracked_new_lot_with_typed_expiry(world, scanner):
    page = scanner("receive").scan(COFFEE_EAN).scan("4")
    assert "lot number" in page.prompt
    page.scan("L-NEW-1")
    assert "expiry date" in page.prompt
    expiry = timezone.localdate() + timedelta(days=200)
    page.scan(expiry.strftime("%d-%m-%Y"))
    page.scan("LOC-AMS-A-01-01")
    lot = Lot.objects.get(item=world.coffee, code="L-NEW-1")
    assert lot.expiry_date == expiry
    assert level_of(world.coffee, world.bins["A-01-01"], lot) == (Decimal(4), Decimal(0))
    assert "lot L-NEW-1" in page.result


def test_receive_new_lot_takes_the_shelf_life_expiry_on_an_empty_enter(world, scanner):
    page = scanner("receive").scan(COFFEE_EAN).scan("2").scan("L-NEW-2")
    assert "Enter without a date for" in page.html
    page.scan("")  # Enter on the empty field
    page.scan("LOC-AMS-A-01-01")
    lot = Lot.objects.get(item=world.coffee, code="L-NEW-2")
    assert lot.expiry_date == timezone.localdate() + timedelta(days=365)


def test_receive_existing_lot_skips_the_expiry(world, scanner):
    page = scanner("receive").scan(COFFEE_EAN).scan("1").scan("L-LATE")
    assert "Scan the bin you put it in" in page.prompt
    page.scan("LOC-AMS-A-01-02")
    assert level_of(world.coffee, world.bins["A-01-02"], world.late) == (Decimal(6), Decimal(0))


def test_receive_in_another_order_recognises_each_scan(world, scanner):
    """Bin first, then the item: each code is recognised for what it is."""
    page = scanner("receive").scan("LOC-AMS-A-01-03")
    assert "Scan the item" in page.prompt
    page.scan("KNF-0001")  # the SKU works as well as the barcode
    page.scan("2")
    assert level_of(world.knife, world.bins["A-01-03"]) == (Decimal(2), Decimal(0))


def test_receive_refuses_an_expired_date_and_writes_nothing(world, scanner):
    before = ledger_snapshot()
    page = scanner("receive").scan(COFFEE_EAN).scan("2").scan("L-OLD")
    page.scan((timezone.localdate() - timedelta(days=3)).isoformat())
    assert any("is expired" in e and "Do not receive expired goods" in e for e in page.errors)
    assert "expiry date" in page.prompt, "the date is asked again"
    assert ledger_snapshot() == before and not Lot.objects.filter(code="L-OLD").exists()


def test_receive_refuses_an_existing_expired_lot(world, scanner):
    Lot.objects.create(item=world.coffee, code="L-GONE", expiry_date=timezone.localdate() - timedelta(days=1))
    before = ledger_snapshot()
    page = scanner("receive").scan(COFFEE_EAN).scan("2").scan("L-GONE")
    assert any("Lot L-GONE of FOD-0001 expired on" in e for e in page.errors)
    assert ledger_snapshot() == before


def test_unknown_barcode_says_so_and_writes_nothing(world, scanner):
    before = ledger_snapshot()
    page = scanner("receive").scan("XYZ-404")
    assert page.errors == [
        'Not posted. Unknown barcode "XYZ-404": no item, bin or lot has it. Check that you scanned the right '
        "label; if it is right, ask the office to add it."
    ]
    assert page.prompt.endswith("Scan the item")
    assert ledger_snapshot() == before


def test_a_bin_of_another_warehouse_is_refused_by_name(world, scanner):
    before = ledger_snapshot()
    page = scanner("receive").scan(KNIFE_EAN).scan("3").scan("LOC-RTM-A-01-01")
    assert any("Bin A-01-01 is in warehouse RTM; you are working in AMS" in e for e in page.errors)
    assert ledger_snapshot() == before


def test_a_scan_that_fits_no_step_says_what_it_is_and_what_is_needed(world, scanner):
    page = scanner("receive").scan(KNIFE_EAN).scan(CANDLE_EAN)
    assert any("That is item CDL-0001" in e and "now type the quantity" in e for e in page.errors)


def test_quantity_must_be_a_positive_number(world, scanner):
    page = scanner("receive").scan(KNIFE_EAN).scan("abc")
    assert any('"abc" is not a quantity' in e for e in page.errors)
    page.scan("0")
    assert any("more than zero" in e for e in page.errors)


def test_a_double_tap_or_resent_form_posts_once(world, scanner):
    page = scanner("receive").scan(KNIFE_EAN).scan("5")
    key = floor_key(world, page)
    page.scan("LOC-AMS-A-01-03")
    assert Movement.objects.filter(kind=MovementKind.RECEIPT, actor=world.clerk).count() == 1
    page.resend()
    page.resend()
    assert Movement.objects.filter(kind=MovementKind.RECEIPT, actor=world.clerk).count() == 1
    assert level_of(world.knife, world.bins["A-01-03"]) == (Decimal(5), Decimal(0))
    assert "Already posted" in page.result and "counted once" in page.result
    assert Movement.objects.get(idempotency_key=key).quantity == Decimal(5)


def test_changing_a_filled_step(world, scanner):
    page = scanner("receive").scan(KNIFE_EAN).scan("5")
    page.scan("", clear="quantity")
    assert "Type the quantity" in page.prompt and "s_item" in page.fields
    page.scan("7").scan("LOC-AMS-A-01-03")
    assert level_of(world.knife, world.bins["A-01-03"]) == (Decimal(7), Decimal(0))


def test_a_discontinued_item_cannot_be_received(world, scanner):
    Item.objects.filter(pk=world.knife.pk).update(status="discontinued", discontinued_on=timezone.localdate())
    page = scanner("receive").scan(KNIFE_EAN)
    assert any("KNF-0001 is discontinued" in e for e in page.errors)


# --- Move / put-away -------------------------------------------------------------------------------


def test_move_in_four_entries_posts_a_transfer(world, scanner):
    page = scanner("move").scan("LOC-AMS-A-01-01")
    assert "KNF-0001" in page.html, "the bin's contents are shown"
    page.scan(KNIFE_EAN)
    assert "12</strong> available in A-01-01" in page.html
    page.scan("4").scan("LOC-AMS-A-01-03")
    movement = Movement.objects.get(kind=MovementKind.TRANSFER)
    assert (movement.source, movement.destination, movement.quantity) == (
        world.bins["A-01-01"],
        world.bins["A-01-03"],
        Decimal(4),
    )
    assert level_of(world.knife, world.bins["A-01-01"])[0] == Decimal(8)
    assert "Moved 4 each KNF-0001 Chef's knife 20 cm from A-01-01 to A-01-03" in page.result


def test_move_refuses_an_item_that_is_not_in_the_bin(world, scanner):
    before = ledger_snapshot()
    page = scanner("move").scan("LOC-AMS-A-01-03").scan(KNIFE_EAN)
    assert any(
        "KNF-0001 is not in bin A-01-03 (nothing available there)" in e and "It is in A-01-01" in e for e in page.errors
    )
    assert ledger_snapshot() == before


def test_move_more_than_available_says_how_many_there_are(world, scanner):
    services.reservation_create(
        item=world.knife, warehouse=world.ams, quantity=Decimal(9), location=world.bins["A-01-01"], actor=None
    )
    before = ledger_snapshot()
    page = scanner("move").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("5")
    assert any("Only 3 of KNF-0001 available at AMS/A-01-01; asked 5. Enter 3 or less." in e for e in page.errors)
    assert "Type the quantity" in page.prompt
    assert ledger_snapshot() == before


def test_move_of_a_lot_tracked_item_takes_the_only_lot_in_the_bin(world, scanner):
    page = scanner("move").scan("LOC-AMS-A-01-03").scan(COFFEE_EAN)
    assert page.notes == ["Lot L-EARLY is the only lot of FOD-0001 in A-01-03."]
    page.scan("3").scan("LOC-AMS-A-01-01")
    assert level_of(world.coffee, world.bins["A-01-01"], world.early) == (Decimal(3), Decimal(0))


def test_move_scanning_a_lot_gives_item_and_lot(world, scanner):
    page = scanner("move").scan("LOC-AMS-A-01-02").scan("L-LATE")
    assert page.fields["s_item"] == f"item:{world.coffee.pk}" and page.fields["s_lot"] == f"lot:{world.late.pk}"
    page.scan("2").scan("LOC-AMS-A-01-01")
    assert level_of(world.coffee, world.bins["A-01-02"], world.late)[0] == Decimal(3)


def test_move_to_the_same_bin_is_refused(world, scanner):
    page = scanner("move").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("1").scan("LOC-AMS-A-01-01")
    assert any("A-01-01 is the bin you take it from" in e for e in page.errors)
    assert not Movement.objects.filter(kind=MovementKind.TRANSFER).exists()


def test_stock_taken_meanwhile_is_refused_by_the_service_and_nothing_is_written(world, scanner):
    """The page checked 12 available; another clerk takes 10 before the last scan: the posting
    service refuses under lock and the page shows its message."""
    page = scanner("move").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("5")
    services.stock_issue(item=world.knife, location=world.bins["A-01-01"], quantity=Decimal(10), actor=None)
    before = ledger_snapshot()
    page.scan("LOC-AMS-A-01-02")
    assert any("Only 2 of KNF-0001 available" in e for e in page.errors), page.errors
    assert ledger_snapshot() == before


# --- Pick / issue ------------------------------------------------------------------------------------


def test_pick_proposes_the_first_expiring_lot_and_posts_from_it(world, scanner):
    page = scanner("pick").scan(COFFEE_EAN)
    first = re.search(r'<li class="first">(.*?)</li>', page.html, re.S).group(1)
    assert "A-01-03" in first and "L-EARLY" in first and "3 available" in first
    page.scan("2")
    issue = Movement.objects.get(kind=MovementKind.ISSUE)
    assert (issue.source, issue.lot, issue.quantity, issue.actor) == (
        world.bins["A-01-03"],
        world.early,
        Decimal(2),
        world.clerk,
    )
    assert "Picked 2 each FOD-0001 Organic coffee beans 1 kg from A-01-03, lot L-EARLY" in page.result


def test_pick_more_than_the_first_lot_takes_the_next_by_fefo(world, scanner):
    page = scanner("pick").scan(COFFEE_EAN).scan("5")
    issues = list(Movement.objects.filter(kind=MovementKind.ISSUE).order_by("batch_line"))
    assert [(m.lot.code, m.quantity) for m in issues] == [("L-EARLY", 3), ("L-LATE", 2)]
    assert "Picked 3" in page.result and "Picked 2" in page.result


def test_pick_more_than_available(world, scanner):
    before = ledger_snapshot()
    page = scanner("pick").scan(KNIFE_EAN).scan("15")
    assert any("Only 12 of KNF-0001 available in warehouse AMS; asked 15. Enter 12 or less." in e for e in page.errors)
    assert ledger_snapshot() == before


def test_pick_from_a_scanned_bin_instead_of_the_proposal(world, scanner):
    page = scanner("pick").scan(COFFEE_EAN).scan("LOC-AMS-A-01-02")
    first = re.search(r'<li class="first">(.*?)</li>', page.html, re.S).group(1)
    assert "A-01-02" in first and "L-LATE" in first
    page.scan("1")
    assert Movement.objects.get(kind=MovementKind.ISSUE).lot == world.late


def test_pick_refuses_an_expired_lot(world, scanner):
    expired = Lot.objects.create(item=world.coffee, code="L-EXP", expiry_date=timezone.localdate() - timedelta(days=2))
    services.stock_receive(
        item=world.coffee, location=world.bins["A-01-01"], quantity=Decimal(4), lot=expired, actor=None
    )
    before = ledger_snapshot()
    page = scanner("pick").scan(COFFEE_EAN)
    assert "L-EXP" not in re.search(r'<ol class="proposal">(.*?)</ol>', page.html, re.S).group(1)
    page.scan("L-EXP")
    assert any("Lot L-EXP of FOD-0001 expired on" in e and "cannot be picked" in e for e in page.errors)
    assert ledger_snapshot() == before


def test_pick_when_all_stock_is_expired(world, scanner):
    services.stock_issue(item=world.coffee, warehouse=world.ams, quantity=Decimal(8), actor=None)
    expired = Lot.objects.create(item=world.coffee, code="L-EXP", expiry_date=timezone.localdate() - timedelta(days=2))
    services.stock_receive(
        item=world.coffee, location=world.bins["A-01-01"], quantity=Decimal(4), lot=expired, actor=None
    )
    page = scanner("pick").scan(COFFEE_EAN)
    assert any("All FOD-0001 in AMS is expired (lot L-EXP" in e and "Scrap it" in e for e in page.errors)


# --- Scrap / adjust ----------------------------------------------------------------------------------


def test_scrap_small_damage_posts_at_once(world, scanner):
    page = scanner("scrap")
    assert "What happened?" in page.prompt and 'value="DAMAGED"' in page.html
    page.scan("", choice="DAMAGED").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("2")
    scrap = Movement.objects.get(kind=MovementKind.SCRAP)
    assert (scrap.quantity, scrap.reason_code, scrap.actor) == (Decimal(2), "DAMAGED", world.clerk)
    assert "Scrapped 2 each KNF-0001" in page.result and "(damaged)" in page.result


def test_reason_can_be_scanned_and_must_be_a_known_one(world, scanner):
    page = scanner("scrap").scan("BROKEN")
    assert any('"BROKEN" is not a reason' in e for e in page.errors)
    page.scan("REASON-EXPIRED")
    assert page.fields["s_reason"] == "EXPIRED"


def test_scrap_of_an_item_not_in_the_bin_is_refused(world, scanner):
    page = scanner("scrap").scan("", choice="DAMAGED").scan("LOC-AMS-A-01-02").scan(KNIFE_EAN)
    assert any("KNF-0001 is not in bin A-01-02" in e for e in page.errors)


def test_a_clerks_adjustment_waits_for_a_manager_and_posts_only_when_approved(world, scanner):
    page = scanner("scrap").scan("", choice="MISSING").scan("LOC-AMS-A-01-02").scan(CANDLE_EAN).scan("2")
    before = ledger_snapshot()
    assert "Waiting for approval" in page.result and "Nothing has moved yet" in page.result
    request = AdjustmentRequest.objects.get()
    assert (request.status, request.quantity, request.requested_by) == ("pending", Decimal(-2), world.clerk)
    assert "may not adjust stock" in request.approval_reason
    assert not Movement.objects.filter(kind=MovementKind.ADJUSTMENT).exists()

    services.adjustment_request_approve(request=request, actor=world.manager)
    request.refresh_from_db()
    assert request.status == AdjustmentRequestStatus.APPROVED and request.decided_by == world.manager
    movement = request.movement
    assert (movement.kind, movement.quantity, movement.actor, movement.reason_code) == (
        MovementKind.ADJUSTMENT,
        Decimal(2),
        world.manager,
        "MISSING",
    )
    assert ledger_snapshot() != before
    assert level_of(world.candle, world.bins["A-01-02"])[0] == Decimal(28)
    home = page.client.get("/floor/").content.decode()
    assert "Approved and posted" in home


@override_settings(STOCK_ADJUSTMENT_APPROVAL_QUANTITY="5")
def test_a_scrap_above_the_quantity_limit_waits_for_approval(world, scanner):
    page = scanner("scrap").scan("", choice="DAMAGED").scan("LOC-AMS-A-01-02").scan(CANDLE_EAN).scan("6")
    assert "Waiting for approval" in page.result and "more than the approval limit of 5" in page.result
    assert not Movement.objects.filter(kind=MovementKind.SCRAP).exists()


def test_a_scrap_above_the_value_limit_waits_for_approval(world, scanner):
    """6 knives at 18.50 = 111.00, above the default limit of 100."""
    page = scanner("scrap").scan("", choice="DAMAGED").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("6")
    assert "Waiting for approval" in page.result and "above the approval limit of EUR 100.00" in page.result
    request = AdjustmentRequest.objects.get()
    assert request.value == Decimal("111.0000") and request.kind == "scrap"
    services.adjustment_request_approve(request=request, actor=world.manager)
    assert Movement.objects.get(kind=MovementKind.SCRAP).quantity == Decimal(6)


def test_a_managers_small_adjustment_posts_at_once(world, scanner):
    manager = signed_in(world.manager, world.ams)
    page = scanner("scrap", manager).scan("", choice="FOUND").scan("LOC-AMS-A-01-02").scan(CANDLE_EAN).scan("1")
    movement = Movement.objects.get(kind=MovementKind.ADJUSTMENT)
    assert (movement.destination, movement.actor) == (world.bins["A-01-02"], world.manager)
    assert "Added 1 each CDL-0001" in page.result


def test_the_asker_cannot_approve_their_own_request_and_a_reject_posts_nothing(world):
    outcome = services.adjustment_submit(
        kind="adjustment",
        item=world.knife,
        location=world.bins["A-01-01"],
        quantity_delta=Decimal(-11),
        reason_code="MISSING",
        actor=world.manager,
    )
    assert outcome.waiting
    with pytest.raises(WarehousePermissionDenied, match="another manager must approve it"):
        services.adjustment_request_approve(request=outcome.request, actor=world.manager)
    with pytest.raises(WarehousePermissionDenied, match="may not approve"):
        services.adjustment_request_approve(request=outcome.request, actor=world.clerk)
    before = ledger_snapshot()
    services.adjustment_request_reject(request=outcome.request, actor=world.manager, note="Counted again: all there.")
    assert AdjustmentRequest.objects.get().status == AdjustmentRequestStatus.REJECTED
    assert ledger_snapshot() == before
    with pytest.raises(services.InvalidMovement, match="already rejected"):
        services.adjustment_request_approve(request=outcome.request, actor=world.manager)


def test_adjustment_submit_requires_a_reason_and_is_idempotent(world):
    with pytest.raises(services.InvalidMovement, match="needs a reason code"):
        services.adjustment_submit(
            kind="scrap",
            item=world.knife,
            location=world.bins["A-01-01"],
            quantity_delta=Decimal(-1),
            reason_code=" ",
            actor=world.clerk,
        )
    kwargs = {
        "kind": "adjustment",
        "item": world.knife,
        "location": world.bins["A-01-01"],
        "quantity_delta": Decimal(-1),
        "reason_code": "MISSING",
        "actor": world.clerk,
        "idempotency_key": "floor:test:1",
    }
    first = services.adjustment_submit(**kwargs)
    again = services.adjustment_submit(**kwargs)
    assert first.request.pk == again.request.pk and AdjustmentRequest.objects.count() == 1


def test_approval_is_refused_when_the_stock_is_gone_and_the_request_stays_pending(world):
    outcome = services.adjustment_submit(
        kind="scrap",
        item=world.knife,
        location=world.bins["A-01-01"],
        quantity_delta=Decimal(-11),
        reason_code="DAMAGED",
        actor=world.clerk,
    )
    services.stock_issue(item=world.knife, location=world.bins["A-01-01"], quantity=Decimal(5), actor=None)
    before = ledger_snapshot()
    with pytest.raises(services.InsufficientStock):
        services.adjustment_request_approve(request=outcome.request, actor=world.manager)
    assert AdjustmentRequest.objects.get().status == AdjustmentRequestStatus.PENDING
    assert ledger_snapshot() == before
    assert layers_of(world.knife, world.ams) == []


# --- Permissions ---------------------------------------------------------------------------------------


def test_without_post_permission_the_job_page_says_so_and_a_posting_writes_nothing(world, scanner):
    auditor = signed_in(world.auditor, world.ams)
    page = scanner("receive", auditor)
    assert "No permission." in page.html and "Ask a manager for access" in page.html
    before = ledger_snapshot()
    page.client.post(
        "/floor/receive/",
        {
            "key": "5b0c6c0e-1111-4222-8333-444455556666",
            "s_item": f"item:{world.knife.pk}",
            "s_quantity": "1",
            "scan": "LOC-AMS-A-01-01",
        },
    )
    assert ledger_snapshot() == before


def test_permission_revoked_before_the_last_scan_is_refused_by_the_service(world, scanner):
    page = scanner("receive").scan(KNIFE_EAN).scan("1")
    remove_perm("catalog.post_warehouse_movements", world.clerk, world.ams)
    before = ledger_snapshot()
    page.scan("LOC-AMS-A-01-01")
    assert any(
        e.startswith("Not posted. No permission: clerk may not receive, move, issue and scrap in warehouse AMS.")
        for e in page.errors
    ), page.errors
    assert ledger_snapshot() == before


def test_hidden_fields_are_checked_again(world, clerk_client):
    """A forged hidden field naming a bin of another warehouse is refused like a scan of it."""
    before = ledger_snapshot()
    response = clerk_client.post(
        "/floor/receive/",
        {
            "key": "5b0c6c0e-1111-4222-8333-444455556667",
            "s_item": f"item:{world.knife.pk}",
            "s_quantity": "1",
            "s_destination": f"loc:{world.rtm_bin.pk}",
        },
    )
    assert "you are working in AMS" in response.content.decode()
    assert ledger_snapshot() == before


@override_settings(STOCK_ADJUSTMENT_APPROVAL_QUANTITY="5")
def test_a_system_job_above_the_limit_is_refused_in_words_and_files_no_request(world):
    """A system job (no actor) cannot ask a manager: scrapping 6 candles (limit 5) is refused
    with the reason, and neither a request nor a movement is written (before: an IntegrityError)."""
    candle, bin_ = world.candle, world.bins["A-01-02"]
    before = ledger_snapshot()
    with pytest.raises(services.InvalidMovement, match=r"more than the approval limit of 5.*system job"):
        services.adjustment_submit(
            kind="scrap", item=candle, location=bin_, quantity_delta=Decimal("-6"), reason_code="DAMAGED", actor=None
        )
    assert not AdjustmentRequest.objects.exists()
    assert ledger_snapshot() == before

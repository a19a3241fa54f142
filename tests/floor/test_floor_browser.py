"""The floor in a real browser: Playwright (Python) drives Debian's Chromium headless at phone
width, typing as a barcode scanner does (the code, then Enter), and checks what the page shows
and what the ledger recorded. Each page is saved as a screenshot in tests/screenshots/floor/
(git-ignored) for people to look at.

Needs /usr/bin/chromium (``.ci/run`` installs Debian's ``chromium`` when it is missing); without
it these tests are skipped with that reason. The live server runs in another thread on a
transactional database (flushed after each test; ``build_world`` re-creates the migrations'
rows it needs, such as the role groups), and Playwright's event loop in this thread needs
``DJANGO_ALLOW_ASYNC_UNSAFE`` for the test's own database calls.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from stock.models import AdjustmentRequest, AdjustmentRequestStatus, Movement, MovementKind
from tests.floor.conftest import COFFEE_EAN, KNIFE_EAN, World, build_world
from tests.stock.factories import level_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
SHOTS = Path(__file__).resolve().parents[1] / "screenshots" / "floor"
TIMEOUT_MS = 10_000

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium; .ci/run does)",
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def world(live_server) -> World:
    return build_world()


@pytest.fixture
def phone(browser, live_server) -> Iterator[object]:
    """A fresh phone-sized browser page (no cookies) on the live server."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def scan(page, text: str) -> None:
    """What a scanner does: type the code into whatever has the focus, then Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def expect_prompt(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("label.prompt")).to_contain_text(text)
    expect(page.locator("#scan")).to_be_focused()


def sign_in(page, username: str) -> None:
    from playwright.sync_api import expect

    page.goto("/floor/")
    expect(page.locator("#id_username")).to_be_focused()
    scan(page, username)  # Enter moves on to the password
    expect(page.locator("#id_password")).to_be_focused()
    scan(page, f"{username}-demo-2026")
    expect(page.locator("h1")).to_contain_text("Jobs in AMS")


def test_sign_in_home_and_receive_with_a_scanner(phone, world):
    from playwright.sync_api import expect

    page = phone
    page.goto("/floor/")
    expect(page.locator("h1")).to_have_text("Sign in")
    shot(page, "01-sign-in")
    sign_in(page, "clerk")
    expect(page.locator("#scan")).to_be_focused()
    shot(page, "02-home")

    page.get_by_role("link", name=re.compile("^Receive Goods in without an order")).click()
    expect_prompt(page, "Scan the item")
    shot(page, "03-receive-start")
    scan(page, "XYZ-404")
    expect(page.locator(".alert-error")).to_contain_text('Unknown barcode "XYZ-404"')
    expect_prompt(page, "Scan the item")
    shot(page, "04-receive-unknown-barcode")

    scan(page, KNIFE_EAN)
    expect_prompt(page, "Type the quantity (each)")
    scan(page, "5")
    expect_prompt(page, "Scan the bin you put it in")
    shot(page, "05-receive-bin")
    scan(page, "LOC-AMS-A-01-03")
    expect(page.locator("#result")).to_contain_text("Received 5 each KNF-0001 Chef's knife 20 cm into A-01-03")
    expect_prompt(page, "Scan the item")
    shot(page, "06-receive-done")

    receipt = Movement.objects.get(kind=MovementKind.RECEIPT, actor=world.clerk)
    assert (receipt.item, receipt.quantity, receipt.destination) == (world.knife, Decimal(5), world.bins["A-01-03"])
    assert receipt.idempotency_key.startswith(f"floor:{world.clerk.pk}:")

    # A lot-tracked item: lot and expiry (Enter takes the shelf-life default), scanned fast:
    # the next scans arrive while the page is still loading and are not lost.
    page.keyboard.type(f"{COFFEE_EAN}\n4\nL-2611\n")
    expect_prompt(page, "Type the expiry date")
    expect(page.locator("[data-step-value=lot]")).to_have_text("L-2611 · new lot")
    shot(page, "07-receive-expiry")
    scan(page, "")
    expect_prompt(page, "Scan the bin you put it in")
    scan(page, "LOC-AMS-A-01-01")
    expect(page.locator("#result")).to_contain_text("Received 4 each FOD-0001")
    assert level_of(world.coffee, world.bins["A-01-01"], world.coffee.lots.get(code="L-2611")) == (4, 0)


def test_lookup_and_labels(phone, world):
    from playwright.sync_api import expect

    page = phone
    sign_in(page, "clerk")
    scan(page, COFFEE_EAN)  # home's scan field looks anything up
    expect(page.locator("h1")).to_have_text("FOD-0001")
    expect(page.locator(".totals-main dd")).to_have_text("8")
    expect(page.locator("table.grid").first).to_contain_text("L-EARLY")
    expect(page.locator("#scan")).to_be_focused()
    shot(page, "10-lookup-item")
    scan(page, "LOC-AMS-A-01-02")
    expect(page.locator("h1")).to_have_text("A-01-02")
    expect(page.locator("table.grid")).to_contain_text("CDL-0001")
    shot(page, "11-lookup-bin")
    scan(page, "LOC-RTM-A-01-01")
    expect(page.locator(".alert-error")).to_contain_text("is in warehouse RTM; you are working in AMS")
    shot(page, "12-lookup-other-warehouse")

    page.goto(
        f"/floor/labels/?location={world.bins['A-01-01'].pk}&location={world.bins['A-01-02'].pk}&item={world.knife.pk}"
    )
    expect(page.locator(".label")).to_have_count(3)
    expect(page.locator(".label svg")).to_have_count(3)
    page.set_viewport_size({"width": 820, "height": 1100})
    shot(page, "13-labels")


def test_move_and_pick_by_fefo(phone, world):
    from playwright.sync_api import expect

    page = phone
    sign_in(page, "clerk")
    page.goto("/floor/move/")
    expect_prompt(page, "Scan the bin you take it from")
    scan(page, "LOC-AMS-A-01-03")
    expect_prompt(page, "Scan the item")
    shot(page, "20-move-bin-contents")
    scan(page, COFFEE_EAN)
    expect(page.locator(".alert-info")).to_contain_text("Lot L-EARLY is the only lot of FOD-0001 in A-01-03")
    expect_prompt(page, "Type the quantity")
    scan(page, "9")
    expect(page.locator(".alert-error")).to_contain_text("Only 3 of FOD-0001 (lot L-EARLY) available at AMS/A-01-03")
    shot(page, "21-move-only-3-available")
    scan(page, "3")
    expect_prompt(page, "Scan the bin you put it in")
    scan(page, "LOC-AMS-A-01-01")
    expect(page.locator("#result")).to_contain_text("Moved 3 each FOD-0001")
    shot(page, "22-move-done")
    assert level_of(world.coffee, world.bins["A-01-01"], world.early) == (3, 0)

    page.goto("/floor/pick/")
    scan(page, COFFEE_EAN)
    expect(page.locator(".proposal li.first")).to_contain_text("A-01-01")
    expect(page.locator(".proposal li.first")).to_contain_text("L-EARLY")
    expect_prompt(page, "Type the quantity")
    shot(page, "23-pick-proposal")
    scan(page, "2")
    expect(page.locator("#result")).to_contain_text(
        "Picked 2 each FOD-0001 Organic coffee beans 1 kg from A-01-01, lot L-EARLY"
    )
    shot(page, "24-pick-done")
    issue = Movement.objects.get(kind=MovementKind.ISSUE)
    assert (issue.lot, issue.quantity, issue.actor) == (world.early, Decimal(2), world.clerk)


def test_pick_report_a_bin_short_at_phone_width(phone, world):
    from playwright.sync_api import expect

    from stock.models import ShortPick

    page = phone
    sign_in(page, "clerk")
    page.goto("/floor/pick/")
    scan(page, KNIFE_EAN)
    button = page.locator(".proposal li.first .proposal-short")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390  # inside the phone's width
    assert box["height"] >= 44  # a thumb's target
    shot(page, "25-pick-report-short-button")
    button.click()
    expect_prompt(page, "How many KNF-0001 are there in A-01-01?")
    scan(page, "3")
    confirm = page.locator(".choice-confirm")
    expect(confirm).to_be_visible()
    shot(page, "26-pick-report-short-confirm")
    confirm.click()
    expect(page.locator(".alert-info")).to_contain_text("A-01-01 reported short of KNF-0001 (found 3")
    expect_prompt(page, "Type the quantity")
    shot(page, "27-pick-after-report")
    short = ShortPick.objects.get()
    assert (short.asked, short.available, short.by) == (Decimal(12), Decimal(3), world.clerk)
    scan(page, "3")
    expect(page.locator("#result")).to_contain_text("Picked 3 each KNF-0001")


def test_adjustment_waits_for_a_manager_who_approves_in_the_admin(browser, phone, world, live_server):
    from playwright.sync_api import expect

    page = phone
    sign_in(page, "clerk")
    page.goto("/floor/scrap/")
    expect_prompt(page, "What happened?")
    shot(page, "30-scrap-reasons")
    page.get_by_role("button", name=re.compile("^Missing")).click()
    expect_prompt(page, "Scan the bin")
    scan(page, "LOC-AMS-A-01-02")
    scan(page, "CDL-0001")
    expect_prompt(page, "How many are missing? (each)")
    shot(page, "31-scrap-quantity")
    scan(page, "4")
    expect(page.locator("#result")).to_contain_text("Waiting for approval")
    shot(page, "32-adjust-waiting")
    request = AdjustmentRequest.objects.get()
    assert request.status == AdjustmentRequestStatus.PENDING
    assert not Movement.objects.filter(kind=MovementKind.ADJUSTMENT).exists()

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    desk.set_default_timeout(TIMEOUT_MS)
    admin = desk.new_page()
    admin.goto("/admin/login/?next=/admin/stock/adjustmentrequest/")
    admin.fill("#id_username", "manager")
    admin.fill("#id_password", "manager-demo-2026")
    admin.press("#id_password", "Enter")
    expect(admin.locator("#result_list")).to_contain_text("Waiting for approval")
    admin.locator(f"input[name=_selected_action][value='{request.pk}']").check()
    admin.select_option("select[name=action]", "approve_requests")
    admin.get_by_role("button", name="Run").or_(admin.get_by_role("button", name="Go")).first.click()
    expect(admin.locator(".messagelist")).to_contain_text(f"Request #{request.pk} approved and posted.")
    shot(admin, "33-admin-approved")
    desk.close()

    page.goto("/floor/")
    expect(page.locator(".requests")).to_contain_text("Approved and posted")
    shot(page, "34-home-approved")
    movement = Movement.objects.get(kind=MovementKind.ADJUSTMENT)
    assert (movement.quantity, movement.actor, movement.reason_code) == (Decimal(4), world.manager, "MISSING")
    assert level_of(world.candle, world.bins["A-01-02"])[0] == 26


def test_receive_a_purchase_order_with_a_scanner(phone, world):
    """The clerk receives part of a placed order: order number, item, quantity, bin."""
    from playwright.sync_api import expect

    from purchasing.models import Supplier
    from purchasing.services import OrderLine, purchase_order_create, purchase_order_place

    supplier = Supplier.objects.create(code="NORDIC", name="Nordic Homeware")
    order = purchase_order_place(
        order=purchase_order_create(
            supplier=supplier, warehouse=world.ams, lines=[OrderLine(world.knife, Decimal(10))], actor=None
        ),
        actor=None,
    )
    page = phone
    sign_in(page, "clerk")
    page.get_by_role("link", name=re.compile("^Receive order")).click()
    expect_prompt(page, "Scan or type the order number")
    scan(page, order.number)
    expect(page.locator("[data-step-value=order]")).to_contain_text(order.number)
    expect_prompt(page, "Scan the item")
    scan(page, KNIFE_EAN)
    scan(page, "12")
    expect(page.locator(".alert-error")).to_contain_text("only 10 outstanding")
    scan(page, "7")
    scan(page, "LOC-AMS-DOCK-IN")
    expect(page.locator("#result")).to_contain_text("Received 7 each KNF-0001")
    shot(page, "20-receive-order-done")
    assert order.lines.get().received_quantity == 7

"""The floor's own pages with the Django test client: sign in, choose one of my warehouses (re-
checked on every request), the home page, look-up, printable labels, and the admin side
(approving requests, printing labels)."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from guardian.shortcuts import remove_perm

from stock import services
from stock.models import AdjustmentRequest, AdjustmentRequestStatus, Movement, MovementKind
from tests.floor.conftest import COFFEE_EAN, KNIFE_EAN, signed_in
from tests.stock.factories import ledger_snapshot

pytestmark = pytest.mark.django_db


# --- Sign in and warehouse ---------------------------------------------------------------------------


def test_floor_pages_need_a_sign_in_on_the_floors_own_login_page(world):
    client = Client()
    for url in ("/floor/", "/floor/receive/", "/floor/lookup/?code=x", "/floor/labels/?item=1"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/floor/login/"), url
    page = client.get("/floor/login/").content.decode()
    assert "Sign in" in page and 'name="username"' in page and "autofocus" in page
    assert "django-admin" not in page and 'id="site-name"' not in page, "not the admin's login"


def test_the_clerk_signs_in_and_gets_the_only_warehouse_and_the_jobs(world):
    client = Client()
    response = client.post("/floor/login/", {"username": "clerk", "password": "clerk-demo-2026"}, follow=True)
    page = response.content.decode()
    assert [url for url, _ in response.redirect_chain] == ["/floor/warehouse/", "/floor/"]
    assert "Jobs in AMS" in page
    for job in ("Look up", "Receive", "Move", "Pick", "Scrap / adjust"):
        assert f'<span class="tile-title">{job}</span>' in page
    assert 'name="code"' in page and "autofocus" in page, "home's scan field looks anything up"


def test_a_wrong_password_is_said_plainly(world):
    page = Client().post("/floor/login/", {"username": "clerk", "password": "nope"}).content.decode()
    assert "Check your user name and password" in page
    assert "Please enter a correct username" not in page  # Django's sentence is not said too


def test_the_manager_chooses_among_their_warehouses_only(world):
    client = Client()
    client.force_login(world.manager)
    page = client.get("/floor/", follow=True).content.decode()
    assert "Where are you working?" in page
    assert re.findall(r'<span class="tile-title">(\w+)</span>', page) == ["AMS", "RTM"]
    response = client.post("/floor/warehouse/", {"scan": "rtm"}, follow=True)
    assert "Jobs in RTM" in response.content.decode()


def test_a_warehouse_not_permitted_cannot_be_chosen(world):
    client = Client()
    client.force_login(world.clerk)
    page = client.post("/floor/warehouse/", {"choice": str(world.rtm.pk)}).content.decode()
    assert "is not one of your warehouses" in page
    assert client.session.get("floor_warehouse") is None


def test_a_user_without_warehouses_is_told_what_to_do(world):
    client = Client()
    client.force_login(User.objects.create(username="newbie"))
    page = client.get("/floor/", follow=True).content.decode()
    assert "You have no warehouse to work in" in page and "Ask a manager" in page


def test_the_chosen_warehouse_is_checked_again_on_every_request(world, clerk_client):
    remove_perm("catalog.view_warehouse_stock", world.clerk, world.ams)
    before = ledger_snapshot()
    response = clerk_client.post(
        "/floor/receive/",
        {"key": "5b0c6c0e-1111-4222-8333-444455556668", "s_item": f"item:{world.knife.pk}", "s_quantity": "1"},
        follow=True,
    )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/floor/warehouse/"
    assert "You may no longer work in warehouse AMS: nothing was posted." in page
    assert ledger_snapshot() == before


def test_home_shows_jobs_not_permitted_as_such(world):
    page = signed_in(world.auditor, world.ams).get("/floor/").content.decode()
    assert "Not permitted in AMS" in page


# --- Look-up ---------------------------------------------------------------------------------------------


def test_lookup_an_item_by_barcode_shows_stock_by_bin_lots_and_last_movements(world, clerk_client):
    services.reservation_create(item=world.coffee, warehouse=world.ams, quantity=Decimal(1), actor=None)
    page = clerk_client.get(f"/floor/lookup/?code={COFFEE_EAN}").content.decode()
    assert "FOD-0001" in page and "Organic coffee beans 1 kg" in page
    totals = dict(re.findall(r"<dt>([\w ]+)</dt><dd>([\d.]+)</dd>", page))
    assert totals == {"On hand": "8", "Reserved": "1", "Available": "7"}
    assert "A-01-03" in page and "A-01-02" in page and "L-EARLY" in page and "L-LATE" in page
    assert world.early.expiry_date.isoformat() in page
    assert "Last movements" in page and "Receipt" in page
    assert f"/floor/labels/?item={world.coffee.pk}" in page


def test_lookup_a_bin_shows_its_contents(world, clerk_client):
    page = clerk_client.get("/floor/lookup/?code=LOC-AMS-A-01-02").content.decode()
    assert "Bin in AMS" in page and "CDL-0001" in page and "FOD-0001" in page and "L-LATE" in page
    assert f"/floor/labels/?location={world.bins['A-01-02'].pk}" in page


def test_lookup_a_lot(world, clerk_client):
    page = clerk_client.get("/floor/lookup/?code=L-EARLY").content.decode()
    assert "Lot L-EARLY of" in page and "FOD-0001" in page and "A-01-03" in page and "A-01-02" not in page


def test_lookup_unknown_and_other_warehouse_codes(world, clerk_client):
    page = html.unescape(clerk_client.get("/floor/lookup/?code=NOPE-1").content.decode())
    assert 'Unknown barcode "NOPE-1"' in page
    page = clerk_client.get("/floor/lookup/?code=LOC-RTM-A-01-01").content.decode()
    assert "Bin A-01-01 is in warehouse RTM; you are working in AMS" in page


# --- Labels ------------------------------------------------------------------------------------------------


def test_label_sheet_of_items_and_bins_as_code128_svg(world, clerk_client):
    url = f"/floor/labels/?item={world.knife.pk}&item={world.candle.pk}&location={world.bins['A-01-01'].pk}&copies=2"
    page = clerk_client.get(url).content.decode()
    assert page.count('<div class="label ') == 6 and page.count("<svg ") == 6
    assert f'aria-label="Code 128: {KNIFE_EAN}"' in page and 'aria-label="Code 128: LOC-AMS-A-01-01"' in page
    assert '<section class="sheet">' in page and "6 labels" in page


def test_label_sheets_break_into_pages_and_skip_bins_the_user_may_not_see(world, clerk_client):
    url = "/floor/labels/?" + "&".join(["location=" + str(world.bins["A-01-01"].pk)] * 1) + "&copies=30"
    page = clerk_client.get(url + f"&location={world.rtm_bin.pk}").content.decode()
    assert page.count('<section class="sheet">') == 2 and page.count('<div class="label ') == 30
    assert "LOC-RTM" not in page


def test_one_label_as_an_svg_file(world, clerk_client):
    response = clerk_client.get(f"/floor/labels/location/{world.bins['A-01-03'].pk}.svg")
    assert response["Content-Type"] == "image/svg+xml" and b"<svg " in response.content
    assert clerk_client.get(f"/floor/labels/location/{world.rtm_bin.pk}.svg").status_code == 404


# --- Admin: approve requests, print labels ------------------------------------------------------------------


def test_a_manager_approves_a_request_in_the_admin(world):
    outcome = services.adjustment_submit(
        kind="adjustment",
        item=world.candle,
        location=world.bins["A-01-02"],
        quantity_delta=Decimal(-3),
        reason_code="MISSING",
        actor=world.clerk,
    )
    admin = Client()
    admin.force_login(world.manager)
    listing = admin.get("/admin/stock/adjustmentrequest/").content.decode()
    assert "Waiting for approval" in listing and "approve_requests" in listing
    response = admin.post(
        "/admin/stock/adjustmentrequest/",
        {"action": "approve_requests", "_selected_action": [outcome.request.pk]},
        follow=True,
    )
    assert f"Request #{outcome.request.pk} approved and posted." in response.content.decode()
    request = AdjustmentRequest.objects.get()
    assert request.status == AdjustmentRequestStatus.APPROVED
    assert Movement.objects.get(kind=MovementKind.ADJUSTMENT, reference_id=str(request.pk)).actor == world.manager


def test_an_auditor_sees_requests_but_cannot_approve(world):
    services.adjustment_submit(
        kind="adjustment",
        item=world.candle,
        location=world.bins["A-01-02"],
        quantity_delta=Decimal(-3),
        reason_code="MISSING",
        actor=world.clerk,
    )
    auditor = Client()
    auditor.force_login(world.auditor)
    listing = auditor.get("/admin/stock/adjustmentrequest/").content.decode()
    assert "Waiting for approval" in listing and "approve_requests" not in listing


def test_print_labels_from_the_admin_location_and_item_lists(world):
    admin = Client()
    admin.force_login(world.manager)
    response = admin.post(
        "/admin/catalog/location/",
        {"action": "print_location_labels", "_selected_action": [world.bins["A-01-01"].pk, world.bins["A-01-02"].pk]},
    )
    assert response.status_code == 302 and response["Location"].startswith("/floor/labels/?location=")
    sheet = admin.get(response["Location"]).content.decode()
    assert sheet.count("<svg ") == 2 and "Back" in sheet
    response = admin.post("/admin/catalog/item/", {"action": "print_item_labels", "_selected_action": [world.knife.pk]})
    assert response["Location"].startswith(f"/floor/labels/?item={world.knife.pk}")

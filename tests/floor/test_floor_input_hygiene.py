"""The floor's input-hygiene rule (issue 12, finding 3): a NUL character in a look-up or in any
scan or hidden step of any job, and a new lot code that does not fit its column (or holds a NUL),
are refused with a message naming the field; nothing is written and nothing answers 500 (on
PostgreSQL a NUL reaching a query raised ValueError: a 500)."""

from __future__ import annotations

import pytest
from django.test import Client

from stock.floor.engine import JOBS
from stock.floor.scanning import LOT_CODE_MAX
from stock.models import Lot
from tests.floor.conftest import COFFEE_EAN, Scanner, signed_in
from tests.stock.factories import ledger_snapshot


@pytest.fixture
def manager_client(world) -> Client:
    """The manager (every job allowed in AMS), with a client that returns a 500 as a response."""
    client = Client(raise_request_exception=False)
    client.force_login(world.manager)
    session = client.session
    session["floor_warehouse"] = world.ams.pk
    session.save()
    return client


def test_a_nul_in_a_lookup_names_the_code_field(world, clerk_client):
    response = clerk_client.get("/floor/lookup/?code=%00")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Code: what was sent contains a NUL character" in page
    assert "Unknown barcode" not in page  # it was not looked up


@pytest.mark.parametrize("slug", sorted(JOBS))
@pytest.mark.parametrize("scan", ["\x00", "KNF-0001\x00", "\x00LOC-AMS-A-01-01"])
def test_a_nul_in_the_scan_field_of_every_job_is_refused_naming_the_field(world, manager_client, slug, scan):
    before = ledger_snapshot()
    page = Scanner(manager_client, slug).scan(scan)
    assert page.response.status_code == 200
    assert any("Scan: what was sent contains a NUL character" in e for e in page.errors), page.errors
    assert ledger_snapshot() == before


@pytest.mark.parametrize("slug", sorted(JOBS))
def test_a_nul_in_a_hidden_step_is_refused_naming_the_step(world, manager_client, slug):
    before = ledger_snapshot()
    page = Scanner(manager_client, slug)
    first = page.fields.get("s_item") or ""
    page.scan("", s_item=first + "item:1\x00", s_source="loc:\x00", s_order="po:1\x00", s_shipment="shipment:1\x00")
    assert page.response.status_code == 200
    assert any("contains a NUL character" in e for e in page.errors), page.errors
    assert ledger_snapshot() == before


def test_a_nul_in_a_carried_step_of_the_next_form_is_a_note_not_a_500(world, manager_client):
    response = manager_client.get("/floor/receive-order/?s_order=po:1%00")
    assert response.status_code == 200
    assert "Order: what was sent contains a NUL character" in response.content.decode()


def test_a_new_lot_code_longer_than_its_column_is_refused_on_the_lot_step(world, scanner):
    before = ledger_snapshot()
    too_long = "L-" + "X" * (LOT_CODE_MAX - 1)  # 2 + 63 = 65 characters; the column holds 64
    page = scanner("receive").scan(COFFEE_EAN).scan("2").scan(too_long)
    assert page.errors == [
        f"Not posted. Lot: the new lot code is 65 characters long; at most {LOT_CODE_MAX} fit. "
        "Type the lot number on the label."
    ]
    assert page.prompt.endswith("Scan or type the lot number")  # asked again, item and quantity kept
    assert ledger_snapshot() == before
    assert not Lot.objects.filter(code=too_long).exists()
    # 64 characters fit: the same job goes on.
    page.scan("L-" + "X" * (LOT_CODE_MAX - 2))
    assert page.errors == []


def test_a_new_lot_code_smuggled_into_the_hidden_lot_field_is_checked_too(world, scanner):
    before = ledger_snapshot()
    page = scanner("receive").scan(COFFEE_EAN).scan("2")
    page.scan("LOC-AMS-A-01-01", s_lot="new:" + "Y" * 65, s_expiry="2099-01-01")
    assert any("Lot: the new lot code is 65 characters long" in e for e in page.errors), page.errors
    assert ledger_snapshot() == before


def test_a_nul_in_a_new_lot_code_is_refused(world, clerk_client):
    before = ledger_snapshot()
    page = Scanner(signed_in(world.clerk, world.ams), "receive").scan(COFFEE_EAN).scan("2")
    page.scan("L-\x00-1")
    assert page.errors and "Scan: what was sent contains a NUL character" in page.errors[0]
    page.scan("LOC-AMS-A-01-01", s_lot="new:L-\x00-1", s_expiry="2099-01-01")
    assert any("Lot: what was sent contains a NUL character" in e for e in page.errors), page.errors
    assert ledger_snapshot() == before

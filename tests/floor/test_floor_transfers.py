"""Transfers between warehouses (issue 17, part 6): "Ship transfer" and "Receive transfer" on the
floor, the same through the API, stock in transit per warehouse, partial arrivals, refusals that
write nothing, and the ledger reconciling throughout."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from purchasing.transfers import stock_in_transit
from stock.models import Movement, MovementKind
from stock.reconciliation import reconcile
from tests.floor.conftest import KNIFE_EAN, signed_in
from tests.stock.factories import ledger_snapshot, level_of

pytestmark = pytest.mark.django_db


def _in_transit(warehouse=None):
    return [
        (t.item.sku, t.from_warehouse.code, t.to_warehouse, t.quantity) for t in stock_in_transit(warehouse=warehouse)
    ]


def test_ship_on_the_floor_then_receive_in_two_parts_at_the_other_warehouse(world, scanner):
    page = scanner("ship-transfer").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("5").scan("rtm")
    shipment = Movement.objects.get(kind=MovementKind.TRANSFER)
    assert f"to TRANSIT Movement #{shipment.pk}" in page.result and shipment.reference_line == "RTM"
    assert level_of(world.knife, world.bins["A-01-01"])[0] == 7  # 12 - 5
    assert _in_transit(world.rtm) == [("KNF-0001", "AMS", "RTM", 5)]
    assert _in_transit(world.ams) == [("KNF-0001", "AMS", "RTM", 5)]  # it left AMS: shown there too

    rotterdam = scanner("receive-transfer", signed_in(world.manager, world.rtm))
    rotterdam.scan(f"T-{shipment.pk}").scan("2").scan("LOC-RTM-A-01-01")
    assert "Moved 2 each KNF-0001" in rotterdam.result and "from TRANSIT to A-01-01" in rotterdam.result
    assert _in_transit() == [("KNF-0001", "AMS", "RTM", 3)]  # 5 - 2
    rotterdam.scan(f"t{shipment.pk}").scan("").scan("LOC-RTM-A-01-01")  # Enter: the 3 still in transit
    assert _in_transit() == []
    assert level_of(world.knife, world.rtm_bin)[0] == 5
    assert reconcile() == []


def test_refusals_on_the_floor_write_nothing(world, scanner):
    page = scanner("ship-transfer").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("5").scan("ams")
    assert any("AMS is the warehouse you are in" in e for e in page.errors)
    page.scan("NOWHERE")
    assert any('No warehouse has the code "NOWHERE"' in e for e in page.errors)
    assert not Movement.objects.filter(kind=MovementKind.TRANSFER).exists()

    page.scan("rtm")
    shipment = Movement.objects.get(kind=MovementKind.TRANSFER)
    before = ledger_snapshot()
    here = scanner("receive-transfer").scan(f"T-{shipment.pk}")  # the clerk is in AMS, it goes to RTM
    assert any(f"Nothing of shipment T-{shipment.pk} is on its way to AMS" in e for e in here.errors)
    rotterdam = scanner("receive-transfer", signed_in(world.manager, world.rtm)).scan(f"T-{shipment.pk}").scan("6")
    assert any("Only 5 of KNF-0001 is still in transit" in e for e in rotterdam.errors)
    assert ledger_snapshot() == before


def test_transfers_through_the_api(world):
    manager = APIClient()
    manager.force_authenticate(world.manager)
    body = {"sku": "KNF-0001", "quantity": "4", "location": "A-01-01", "from_warehouse": "AMS", "to_warehouse": "RTM"}
    shipped = manager.post("/api/v1/transfers/", body, format="json")
    assert shipped.status_code == 201
    pk = shipped.json()["id"]
    (line,) = manager.get("/api/v1/transfers/?warehouse=RTM").json()
    assert (line["shipment"], line["sku"], line["quantity"], line["to_warehouse"]) == (pk, "KNF-0001", "4.0000", "RTM")
    # the value in transit is what the shipment took out of AMS's valuation
    assert line["value"] == f"{Movement.objects.get(pk=pk).total_cost:.4f}"

    clerk = APIClient()
    clerk.force_authenticate(world.clerk)  # AMS only: may not receive into RTM
    refused = clerk.post(f"/api/v1/transfers/{pk}/arrive/", {"location": "A-01-01"}, format="json")
    assert refused.status_code in (403, 404)
    too_much = manager.post(f"/api/v1/transfers/{pk}/arrive/", {"location": "A-01-01", "quantity": "5"}, format="json")
    assert too_much.status_code == 400 and "4 still in transit; cannot arrive 5" in too_much.json()["detail"]
    arrived = manager.post(f"/api/v1/transfers/{pk}/arrive/", {"location": "A-01-01"}, format="json")
    assert arrived.status_code == 201 and arrived.json()["quantity"] == "4.0000"
    assert manager.get("/api/v1/transfers/").json() == []
    assert manager.post(f"/api/v1/transfers/{pk}/arrive/", {"location": "A-01-01"}, format="json").status_code == 404
    assert reconcile() == []

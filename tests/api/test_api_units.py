"""The API and quantities' units (issue 12, finding 4): half a WIDGET (each) is refused with
400 ``quantity_finer_than_unit`` and the message that names it, and nothing is written; the
answers keep their documented 4-place decimal strings."""

from __future__ import annotations

import pytest

from stock.models import Reservation
from tests.stock.factories import ledger_snapshot

HALF = "WIDGET is counted in whole units (each); 2.5 is not allowed."
RECEIPT = {
    "kind": "receipt",
    "sku": "WIDGET",
    "quantity": "2.5",
    "warehouse": "A",
    "to_location": "BIN-1",
    "unit_cost": "2.50",
    "reference": "PO-1",
}


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/movements/", RECEIPT),
        ("/api/v1/movements/bulk/", {"lines": [{**RECEIPT, "quantity": "1"}, RECEIPT]}),
        (
            "/api/v1/sales/",
            {"reference": "ORDER-1", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": "2.5"}]},
        ),
        ("/api/v1/reservations/", {"sku": "WIDGET", "warehouse": "A", "quantity": "2.5", "reference": "ORDER-1"}),
    ],
    ids=["movement", "bulk", "sale", "reservation"],
)
def test_half_an_each_is_400_with_the_units_message_and_nothing_is_written(world, admin_api, url, body):
    before = ledger_snapshot()

    response = admin_api.post(url, body)

    assert response.status_code == 400, response.json()
    assert (response.json()["code"], response.json()["detail"]) == ("quantity_finer_than_unit", HALF)
    assert ledger_snapshot() == before
    assert not Reservation.objects.exists()


def test_answers_keep_their_four_place_strings(world, admin_api):
    response = admin_api.post("/api/v1/movements/", {**RECEIPT, "quantity": "3"})

    assert response.status_code == 201, response.json()
    assert response.json()["quantity"] == "3.0000"  # docs/api.md: 4 places, whatever the unit

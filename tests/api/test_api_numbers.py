"""The API reads quantities by the one rule of every door (catalog.numbers): ``"1_000"`` and
``"1,000"`` are refused with a message (before: ``"1_000"`` was read as one thousand, outside the
schema's own pattern), nothing is written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.stock.factories import ledger_snapshot, level_of

MOVEMENTS = "/api/v1/movements/"


def receipt(quantity: object) -> dict:
    return {"kind": "receipt", "sku": "WIDGET", "quantity": quantity, "warehouse": "A", "to_location": "BIN-1"}


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("1_000", "'1_000' is not a number"),
        ("1,000", "use a dot as the decimal mark"),
        ("2,5", "use a dot as the decimal mark"),
        ("1e3", "scientific notation"),
        ("\u0661\u0662", "is not a number"),  # Arabic-Indic digits: outside the schema's pattern
        ("+1", "an optional minus sign"),
        (" 1 ", "an optional minus sign"),
    ],
)
def test_a_quantity_outside_the_rule_is_refused_and_nothing_written(world, admin_api, quantity, message):
    before = ledger_snapshot()

    response = admin_api.post(MOVEMENTS, receipt(quantity))

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert message in str(body["fields"])
    assert ledger_snapshot() == before


def test_the_canonical_forms_still_post(world, admin_api):
    response = admin_api.post(MOVEMENTS, receipt("4.0"))  # whole: WIDGET is counted in "each"
    assert response.status_code == 201, response.content
    response = admin_api.post(MOVEMENTS, receipt(3))  # a JSON number
    assert response.status_code == 201, response.content
    # 10 on hand in A/BIN-1 + 4 + 3 = 17
    assert level_of(world["widget"], world["A"]["bin1"])[0] == Decimal(17)

"""``GET /api/v1/reports/<name>/``: rows and totals as JSON (paginated), the same rows as CSV and
XLSX (opened with openpyxl), the error contract and the warehouse scope."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from common import roles

D = Decimal
URL = "/api/v1/reports/{}/"


def test_stock_on_hand_as_json_with_totals(ledger, manager, api_for):
    response = api_for(manager).get(URL.format("stock-on-hand"), {"as_of": "2025-01-31"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    # A1 15 worth 45, A2 5 worth 15 (A: 20 worth 60 at the end of January); decimals as strings.
    assert [(r["location"], D(r["quantity"]), D(r["value"])) for r in body["results"]] == [
        ("A1", D(15), D(45)),
        ("A2", D(5), D(15)),
    ]
    assert D(body["totals"]["value"]) == D(60)
    assert body["totals"]["as_of"].startswith("2025-01-31T23:59:59")


def test_pages_keep_the_totals_of_the_whole_report(ledger, manager, api_for):
    client = api_for(manager)
    first = client.get(
        URL.format("inventory-journal"), {"date_from": "2025-02-01", "date_to": "2025-02-28", "page_size": 2}
    )
    body = first.json()
    assert (body["count"], len(body["results"])) == (5, 2)  # five journal lines, two per page
    assert body["next"] and "page=2" in body["next"]
    assert D(body["totals"]["closing_value"]) == D(51)  # 60 + 40 - 52 + 3, whatever the page
    third = client.get(body["next"].replace("page=2", "page=3")).json()
    assert len(third["results"]) == 1


def test_csv_holds_the_same_rows_and_the_totals(ledger, manager, api_for):
    response = api_for(manager).get(URL.format("valuation"), {"as_of": "2025-02-15", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="valuation-' in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0] == ["SKU", "Item", "Category", "Warehouse", "Quantity", "Unit", "Unit cost", "Value"]
    assert [(line[3], D(line[4]), D(line[7])) for line in lines[1:3]] == [("A", D(15), D(45)), ("B", D(8), D(40))]
    assert ["Total: value", "85.0000"] in lines  # 45 + 40


def test_xlsx_opens_with_numbers_as_numbers(ledger, manager, api_for):
    response = api_for(manager).get(
        URL.format("shrinkage"), {"date_from": "2025-02-01", "date_to": "2025-02-28", "format": "xlsx"}
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == ("Month", "Warehouse", "Kind", "Reason", "Quantity (signed)", "Value (signed)")
    assert [(r[2], r[3], D(str(r[5]))) for r in rows[1:3]] == [
        ("adjustment", "found", D(6)),
        ("scrap", "damaged", D(-3)),
    ]
    assert isinstance(rows[1][5], (int, float))  # a number the spreadsheet can sum, not text


def test_xlsx_times_are_local_without_offset(ledger, manager, api_for):
    response = api_for(manager).get(
        URL.format("stock-outs"), {"date_from": "2025-02-01", "date_to": "2025-02-28", "format": "xlsx"}
    )
    rows = list(load_workbook(io.BytesIO(response.content), read_only=True).active.iter_rows(values_only=True))
    assert rows[1][3].isoformat() == "2025-02-01T00:00:00"  # B out from the start of February


@pytest.mark.parametrize(
    ("param", "value"), [("date_from", "2025-02-30"), ("date_to", "01.02.2025"), ("as_of", "soon")]
)
def test_a_bad_date_is_a_400_naming_the_parameter(ledger, manager, api_for, param, value):
    name = "stock-on-hand" if param == "as_of" else "turnover"
    response = api_for(manager).get(URL.format(name), {param: value})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["fields"]) == [param]
    assert value in body["detail"]


def test_a_bad_date_refuses_the_file_too(ledger, manager, api_for):
    response = api_for(manager).get(URL.format("turnover"), {"date_from": "x", "format": "csv"})
    assert response.status_code == 400


def test_unknown_report_is_a_json_404(ledger, manager, api_for):
    response = api_for(manager).get(URL.format("abc-analysis"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_anonymous_401_clerk_403(ledger, user, api_for, client):
    from rest_framework.test import APIClient

    assert APIClient().get(URL.format("valuation")).status_code == 401
    clerk = user(roles.WAREHOUSE_CLERK, username="clerk_a")
    response = api_for(clerk).get(URL.format("valuation"))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_the_list_of_reports(ledger, manager, api_for):
    names = [r["name"] for r in api_for(manager).get("/api/v1/reports/").json()["results"]]
    assert {"stock-on-hand", "valuation", "inventory-journal", "shrinkage"} <= set(names)


def test_another_warehouse_by_parameter_is_refused_and_files_are_scoped(ledger, user, api_for):
    only_b = user(roles.INVENTORY_MANAGER, ("B",), username="b_only")
    client = api_for(only_b)
    refused = client.get(URL.format("valuation"), {"warehouse": "A"})
    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["warehouse"]
    by_id = client.get(URL.format("valuation"), {"warehouse": str(ledger["A"].pk)})
    assert by_id.status_code == 400
    response = client.get(URL.format("stock-on-hand"), {"as_of": "2025-02-15", "format": "csv"})
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {line[3] for line in lines[1:] if len(line) > 3} == {"B"}  # A's stock is not in B's file


def test_an_auditor_sees_every_warehouse(ledger, user, api_for):
    auditor = user(roles.AUDITOR, (), username="auditor")
    body = api_for(auditor).get(URL.format("valuation"), {"as_of": "2025-02-15"}).json()
    assert D(body["totals"]["value"]) == D(85)  # 45 in A + 40 in B, by the global grant


def test_an_unknown_format_is_a_400_naming_it(ledger, manager, api_for):
    response = api_for(manager).get(URL.format("valuation"), {"format": "pdf"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and list(response.json()["fields"]) == ["format"]

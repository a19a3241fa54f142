"""The reports in the admin, the managers' dashboard on the admin home, the item page's stock,
the valuation list's total and the stored reconciliation runs."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from django.core import mail
from openpyxl import load_workbook

from common import roles
from purchasing.models import PurchaseOrder, Supplier
from stock.models import ReconciliationRun, StockLevel
from stock.tasks import reconcile_nightly

D = Decimal


def test_report_page_shows_rows_totals_and_export_links(ledger, manager, client_for):
    response = client_for(manager).get("/admin/report/valuation/", {"as_of": "2025-02-15"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="report-rows"' in page and 'id="report-csv"' in page and 'id="report-xlsx"' in page
    assert [row[3][1] for row in response.context["rows"]] == ["A", "B"]  # column 4: warehouse
    assert response.context["totals"]["value"] == "85.0000"  # 45 + 40


def test_report_page_shows_a_bad_filter_beside_its_field(ledger, manager, client_for):
    response = client_for(manager).get("/admin/report/turnover/", {"date_from": "2025-02-31"})
    assert response.status_code == 200
    assert list(response.context["errors"]) == ["date_from"]
    assert "is not a date" in response.content.decode()
    assert response.context["rows"] == []
    csv_response = client_for(manager).get("/admin/report/turnover/", {"date_from": "2025-02-31", "format": "csv"})
    assert csv_response["Content-Type"].startswith("text/html")  # no file of a refused filter


def test_admin_exports_are_the_api_rows(ledger, manager, client_for):
    client = client_for(manager)
    params = {"date_from": "2025-02-01", "date_to": "2025-02-28"}
    lines = list(
        csv.reader(
            io.StringIO(
                client.get("/admin/report/inventory-journal/", {**params, "format": "csv"}).content.decode("utf-8-sig")
            )
        )
    )
    assert [line[4] for line in lines[1:6]] == ["issue", "adjustment", "scrap", "receipt", "issue"]
    book = load_workbook(
        io.BytesIO(client.get("/admin/report/inventory-journal/", {**params, "format": "xlsx"}).content)
    )
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[4] for r in rows[1:6]] == ["issue", "adjustment", "scrap", "receipt", "issue"]
    assert ("Total: closing value", 51) in [tuple(r[:2]) for r in rows]  # 60 + 40 - 52 + 3


def test_report_pages_refuse_clerks_and_unknown_names(ledger, user, manager, client_for):
    clerk = user(roles.WAREHOUSE_CLERK, username="a_clerk")
    assert client_for(clerk).get("/admin/report/valuation/").status_code == 403
    assert client_for(manager).get("/admin/report/no-such-report/").status_code == 404
    assert client_for(manager).get("/admin/report/").status_code == 200


def test_dashboard_tiles_and_waiting_for_you(ledger, manager, ask_adjustment, client_for):
    for _ in range(3):  # a clerk may not adjust: each becomes a request waiting for approval
        ask_adjustment()
    supplier = Supplier.objects.create(code="ACME", name="Acme")
    PurchaseOrder.objects.create(supplier=supplier, warehouse=ledger["A"])
    ReconciliationRun.objects.create(started_at=ledger["widget"].created_at, difference_count=2, differences=[])
    response = client_for(manager).get("/admin/")
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    tiles = {tile.key: tile.value for tile in dashboard["tiles"]}
    assert tiles["value"] == "51.00 EUR"  # A: 17 worth 51; B empty
    assert tiles["out"] == "1"  # WIDGET in B
    assert tiles["accuracy"] == "—"  # no count this month yet
    waiting = {item.key: item.count for item in dashboard["waiting"]}
    assert waiting == {"adjustments": 3, "drafts": 1, "reconciliation": 2, "variances": 0}
    page = response.content.decode()
    assert "/static/vendor/chartjs/chart.umd.min.js" in page
    # No script, style or image from another host (no CDN). Not a search for "cdn" in the page:
    # the CSRF token is random text and once contained it.
    assert not re.search(r'(?:src|href)=["\']?(?:https?:)?//', page, re.IGNORECASE)
    assert 'href="/admin/stock/adjustmentrequest/?status__exact=pending"' in page
    assert len(dashboard["trends"]["labels"]) == 12


def test_dashboard_waiting_is_scoped(ledger, user, ask_adjustment, client_for):
    ask_adjustment()
    only_b = user(roles.INVENTORY_MANAGER, ("B",), username="b_manager")
    dashboard = client_for(only_b).get("/admin/").context["dashboard"]
    assert {i.key: i.count for i in dashboard["waiting"]}["adjustments"] == 0  # A's request is not theirs
    assert {t.key: t.value for t in dashboard["tiles"]}["value"] == "0.00 EUR"


def test_plain_index_for_those_without_reports(ledger, user, client_for):
    clerk = user(roles.WAREHOUSE_CLERK, username="staff_clerk")
    response = client_for(clerk).get("/admin/")
    assert response.status_code == 200
    assert "dashboard" not in response.context


def test_item_page_shows_stock_per_warehouse_and_links_the_stock_card(ledger, manager, client_for):
    response = client_for(manager).get(f"/admin/catalog/item/{ledger['widget'].pk}/change/")
    assert response.status_code == 200
    rows = response.context["stock_panel"]["rows"]
    assert [(r["warehouse"], r["on_hand"], r["value"]) for r in rows] == [
        ("A", "17 each", "51.00 EUR"),
        ("B", "0 each", "0.00 EUR"),
    ]
    assert "/admin/stock/movement/stock-card/?item=WIDGET" in response.content.decode()


def test_item_page_stock_is_scoped(ledger, user, client_for):
    only_b = user(roles.INVENTORY_MANAGER, ("B",), username="b_manager")
    rows = client_for(only_b).get(f"/admin/catalog/item/{ledger['widget'].pk}/change/").context["stock_panel"]["rows"]
    assert [r["warehouse"] for r in rows] == ["B"]


def test_valuation_list_shows_its_total(ledger, manager, client_for):
    response = client_for(manager).get("/admin/stock/itemvaluation/")
    assert response.context["valuation_total"] == "51.00 EUR"  # A 51 + B 0
    filtered = client_for(manager).get("/admin/stock/itemvaluation/", {"warehouse": str(ledger["B"].pk)})
    assert filtered.context["valuation_total"] == "0.00 EUR"
    assert "Total value: 51.00 EUR" in response.content.decode()


def test_nightly_reconciliation_is_stored_and_shown(ledger, manager, client_for):
    assert reconcile_nightly() == 0
    run = ReconciliationRun.objects.get()
    assert (run.difference_count, run.trigger) == (0, "nightly")
    assert "level_vs_ledger" in run.checks
    level = StockLevel.objects.get(item=ledger["widget"], location=ledger["A1"])
    from django.db import connection

    with connection.cursor() as cursor:  # drift injected on purpose (tests may write the ledger)
        cursor.execute("UPDATE stock_stocklevel SET on_hand = on_hand + 1 WHERE id = %s", [level.pk])
    manager.email = "m@example.com"
    manager.save()
    assert reconcile_nightly() >= 1
    latest = ReconciliationRun.objects.first()
    assert latest.difference_count >= 1
    assert {d["check"] for d in latest.differences} >= {"level_vs_ledger"}
    page = client_for(manager).get(f"/admin/stock/reconciliationrun/{latest.pk}/change/").content.decode()
    assert "level_vs_ledger" in page and "A1" in page
    assert len(mail.outbox) == 1

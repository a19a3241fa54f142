"""The managers' dashboard in a real browser (Debian's Chromium through Playwright, as
tests/floor/test_floor_browser.py): the tiles, the "waiting for you" links and the two charts
drawn by the vendored Chart.js (no request leaves the server). Screenshots go to
tests/screenshots/reports/ (git-ignored). Skipped without /usr/bin/chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import Client

from common.roles import sync_roles

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "screenshots" / "reports"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
    # On PostgreSQL the live server's connection outlived the test database's teardown (an
    # error at the end of the session, the test itself passed); the page reads nothing that
    # differs between the databases, so it runs on SQLite.
    pytest.mark.skipif(connection.vendor == "postgresql", reason="runs on SQLite (see the comment)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def roles_synced(transactional_db) -> None:
    sync_roles(apps)  # a transactional test flushed the migrations' groups


@pytest.fixture
def browser_page(live_server) -> Iterator[object]:
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
            context.set_default_timeout(10_000)
            yield context
            context.close()
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def test_dashboard_in_chromium(live_server, browser_page, roles_synced, ledger, manager):
    client = Client()
    client.force_login(manager)
    browser_page.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = browser_page.new_page()
    outside = []
    page.on(
        "request", lambda request: outside.append(request.url) if not request.url.startswith(live_server.url) else None
    )
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/admin/")
    assert page.locator("#tile-value .tile-value").inner_text() == "51.00 EUR"  # A: 17 worth 51
    assert page.locator("#waiting-adjustments .count").inner_text() == "0"
    page.wait_for_function("window.dashboardCharts && window.dashboardCharts.length === 2")
    assert page.evaluate("window.dashboardCharts[0].data.labels.length") == 12
    assert page.evaluate("document.getElementById('chart-value').width") > 0
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    page.click("#tile-value")
    page.wait_for_url("**/admin/report/valuation/")
    assert "Valuation" in page.title()
    assert page.locator("#report-rows tbody tr").count() == 1  # WIDGET in A; B holds nothing now
    page.screenshot(path=str(SHOTS / "valuation.png"), full_page=True)
    assert errors == [] and outside == []

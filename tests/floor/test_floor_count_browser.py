"""The floor's Count job in Chromium at phone width (see test_floor_browser.py for the set-up):
scan a bin, scan and count an item, tap "Bin empty" for the next bin, submit the count; the page
never shows a book quantity."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from counting.models import CountLine, CountStatus, LineStatus
from counting.services import count_start
from tests.floor.conftest import KNIFE_EAN
from tests.floor.test_floor_browser import CHROMIUM, browser, expect_prompt, phone, scan, shot, sign_in, world

__all__ = ["browser", "phone", "world"]  # fixtures shared with test_floor_browser.py

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_count_a_bin_then_an_empty_bin_then_submit(phone, world):
    from playwright.sync_api import expect

    count = count_start(
        warehouse=world.ams, locations=[world.bins["A-01-01"], world.bins["A-01-02"]], actor=world.manager
    )
    page = phone
    sign_in(page, "clerk")
    page.get_by_role("link", name=re.compile("^Count Cycle count")).click()
    expect_prompt(page, "Scan the bin you count")
    expect(page.locator("body")).to_contain_text(f"Count #{count.pk}: 0 of 3 lines counted, 2 bins")
    shot(page, "20-count-start")
    scan(page, "LOC-AMS-A-01-01")
    expect_prompt(page, "Scan an item in the bin, or tap Bin empty")
    expect(page.locator("section.panel").first).to_contain_text("KNF-0001 Chef's knife 20 cm")
    expect(page.locator("section.panel").first).not_to_contain_text("12")  # blind
    shot(page, "21-count-bin")
    scan(page, KNIFE_EAN)
    expect_prompt(page, "How many are there? (each)")
    scan(page, "12")
    expect(page.locator("#result")).to_contain_text("Counted 12 each KNF-0001 in AMS/A-01-01")
    expect_prompt(page, "Scan an item in the bin, or tap Bin empty")
    shot(page, "22-count-done")

    page.goto("/floor/count/")
    scan(page, "LOC-AMS-A-01-02")
    page.locator("#bin-empty").click()
    expect(page.locator(f"#submit-{count.pk}")).to_be_visible()
    shot(page, "23-count-all-counted")
    page.locator(f"#submit-{count.pk}").click()
    expect(page.locator("body")).not_to_contain_text(f"Count #{count.pk}:")
    shot(page, "24-count-submitted")

    count.refresh_from_db()
    assert count.status == CountStatus.SUBMITTED
    knife = CountLine.objects.get(count=count, item=world.knife)
    assert (knife.status, knife.variance, knife.counted_by) == (LineStatus.POSTED, Decimal(0), world.clerk)
    # A-01-02 was said to be empty: 30 candles and 5 coffee missing, beyond tolerance: recounts.
    assert set(count.lines.exclude(pk=knife.pk).values_list("status", flat=True)) == {LineStatus.RECOUNT}

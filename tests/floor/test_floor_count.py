"""The floor job "Count" (counting/floor.py), scan by scan: blind (no book quantity on the page),
an item counted once however often the form is sent, "Bin empty", submitting the count, and
refusals that name the bin and write nothing.

World (tests/floor/conftest.py): 12 KNF-0001 in AMS/A-01-01; 30 CDL-0001 and 5 FOD-0001 of lot
L-LATE in A-01-02; 3 FOD-0001 L-EARLY in A-01-03.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from counting.models import Count, CountKind, CountLine, CountStatus, LineStatus
from counting.services import count_start
from tests.floor.conftest import KNIFE_EAN

pytestmark = pytest.mark.django_db


@pytest.fixture
def count(world) -> Count:
    return count_start(
        warehouse=world.ams, locations=[world.bins["A-01-01"], world.bins["A-01-02"]], actor=world.manager
    )


def test_count_a_bin_blind_then_bin_empty_then_submit(world, scanner, count):
    page = scanner("count")
    assert page.prompt.endswith("Scan the bin you count")
    page.scan("LOC-AMS-A-01-01")
    assert "Still to count in A-01-01" in page.html and "KNF-0001" in page.html
    assert "12" not in page.html.split("Still to count")[1].split("</section>")[0]  # blind: no book quantity
    page.scan(KNIFE_EAN)
    assert page.prompt.endswith("How many are there? (each)")
    page.scan("11")
    line = CountLine.objects.get(count=count, item=world.knife)
    assert (line.counted_quantity, line.counted_by, line.status) == (Decimal(11), world.clerk, LineStatus.COUNTED)
    assert "Counted 11 each KNF-0001" in page.result
    assert page.prompt.endswith("Scan an item in the bin, or tap Bin empty"), "the bin is kept for the next item"
    page.resend()
    assert "Already sent" in page.result and CountLine.objects.filter(count=count).count() == 3

    page = scanner("count").scan("LOC-AMS-A-01-02")
    page.scan(choice="EMPTY")
    assert [(line.item.sku, line.counted_quantity) for line in count.lines.filter(location=world.bins["A-01-02"])] == [
        ("CDL-0001", Decimal(0)),
        ("FOD-0001", Decimal(0)),
    ]
    assert f"Submit count #{count.pk}" in page.html
    page.client.post("/floor/count/", {"key": str(uuid.uuid4()), "choice": f"SUBMIT:{count.pk}"})
    count.refresh_from_db()
    assert count.status == CountStatus.SUBMITTED
    # 11 of 12 knives: -1 > 2 % of 12 (0.24): a recount; the empty bin too (-30 and -5).
    assert set(count.lines.values_list("status", flat=True)) == {LineStatus.RECOUNT}
    recount = Count.objects.get(kind=CountKind.RECOUNT)
    assert recount.excluded_user == world.clerk and recount.lines.count() == 3


def test_bins_that_are_not_on_a_count_are_refused_by_name(world, scanner, count):
    page = scanner("count").scan("LOC-AMS-A-01-03")
    assert any("Bin A-01-03 is on no open count of AMS for you" in error for error in page.errors)
    page = scanner("count").scan("LOC-RTM-A-01-01")
    assert any("Bin A-01-01 is in warehouse RTM" in error for error in page.errors)
    assert not CountLine.objects.filter(counted_quantity__isnull=False).exists()


def test_an_unexpected_item_is_counted_too(world, scanner, count):
    scanner("count").scan("LOC-AMS-A-01-01").scan("CDL-0001").scan("2")
    line = CountLine.objects.get(count=count, item=world.candle, location=world.bins["A-01-01"])
    assert (line.expected, line.counted_quantity) == (False, Decimal(2))


def test_an_item_counted_as_zero_while_the_rest_of_the_bin_is_there(world, scanner, count):
    """A clerk finds 30 candles but no FOD-0001 of lot L-LATE in A-01-02: typing 0 for that lot is
    a count (not "must be more than zero"), and "Bin empty" would wrongly zero the candles too."""
    page = scanner("count").scan("LOC-AMS-A-01-02").scan("CDL-0001").scan("30")
    page.scan("FOD-0001").scan("L-LATE").scan("0")
    assert page.errors == []
    line = CountLine.objects.get(count=count, item=world.coffee, location=world.bins["A-01-02"])
    assert (line.counted_quantity, line.status) == (Decimal(0), LineStatus.COUNTED)
    assert "Counted 0 each FOD-0001" in page.result
    candles = CountLine.objects.get(count=count, item=world.candle, location=world.bins["A-01-02"])
    assert candles.counted_quantity == Decimal(30), "the other item of the bin keeps its count"


def test_a_negative_count_is_refused_by_name_and_writes_nothing(world, scanner, count):
    page = scanner("count").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("-1")
    assert any("cannot be negative" in error for error in page.errors)
    assert not CountLine.objects.filter(count=count, counted_quantity__isnull=False).exists()


def test_other_jobs_still_refuse_a_zero_quantity(world, scanner):
    page = scanner("move").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("0")
    assert any("more than zero" in error for error in page.errors)


def test_submit_says_what_became_of_the_lines_and_a_double_tap_submits_once(world, scanner, count, clerk_client):
    """Knives 12 counted 12 (within tolerance: posted); A-01-02 empty (30 candles and 5 coffee
    off the book: beyond 2 %, recounts). The banner names the count and the outcome; the same
    form sent again shows it again ("Already sent"), with no error and no second recount."""
    page = scanner("count").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN).scan("12")
    scanner("count").scan("LOC-AMS-A-01-02").scan(choice="EMPTY")
    form = {"key": str(uuid.uuid4()), "choice": f"SUBMIT:{count.pk}"}
    page.response = clerk_client.post("/floor/count/", form, follow=True)
    assert page.errors == []
    assert f"Count #{count.pk} submitted: 1 posted, 2 to recount, 0 waiting for a manager." in page.result
    page.response = clerk_client.post("/floor/count/", form, follow=True)
    assert page.errors == [] and "Already sent" in page.result
    assert f"Count #{count.pk} submitted" in page.result
    assert Count.objects.filter(kind=CountKind.RECOUNT).count() == 1
    count.refresh_from_db()
    assert (count.status, count.submitted_by) == (CountStatus.SUBMITTED, world.clerk)

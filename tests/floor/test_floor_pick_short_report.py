"""The Pick job's "Report short" (stock/floor/short_report.py): the clerk finds fewer in a proposed
bin than the book says, taps "Report short" there, types how many there are and confirms. That
records one short pick (asked: the bin's book on hand, available: what was found; once per item,
bin, lot and day), moves nothing, and the pick goes on: from that bin at most what was found, or
from a bin the clerk scans. The next count plan ranks the bin (rank 2, after class-due items).

World (tests/floor/conftest.py): 12 KNF-0001 in AMS/A-01-01; 30 CDL-0001 and 5 FOD-0001 of lot
L-LATE in A-01-02; 3 FOD-0001 L-EARLY (expires first) in A-01-03.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from counting.services import plan_candidates
from stock.models import Movement, ShortPick, StockLevel
from tests.floor.conftest import COFFEE_EAN, KNIFE_EAN
from tests.stock.factories import ledger_snapshot


def _short_button(page, bin_code: str) -> str:  # noqa: ANN001 - a Scanner
    """The value of the "Report short" button on the proposal's row of ``bin_code``."""
    row = re.search(rf'<span class="proposal-bin">{bin_code}</span>(.*?)</li>', page.html, re.S)
    assert row, f"{bin_code} is not proposed"
    button = re.search(r'name="choice" value="(SHORT:[0-9:]+)"', row.group(1))
    assert button, f"no Report short button on {bin_code}"
    return button.group(1)


def _on_hand(world, item, bin_code: str) -> Decimal:  # noqa: ANN001
    levels = StockLevel.objects.filter(item=item, location=world.bins[bin_code])
    return sum((level.on_hand for level in levels), Decimal(0))


def test_report_a_bin_short_then_take_what_was_found(world, scanner):
    before = ledger_snapshot()
    page = scanner("pick").scan(KNIFE_EAN)
    assert _short_button(page, "A-01-01") == f"SHORT:{world.bins['A-01-01'].pk}:0"

    page.scan(choice=_short_button(page, "A-01-01"))
    assert page.prompt.endswith("How many KNF-0001 are there in A-01-01? (each; 0 if none)")
    page.scan("3")
    # The confirmation says what will be recorded; nothing is recorded before it.
    panel = " ".join(re.sub(r"<[^>]+>", " ", page.html.split('class="panel pick-short"')[1]).split())
    assert "The book has 12 each of this item in A-01-01. You found 3 each." in panel and "Confirm" in panel
    assert not ShortPick.objects.exists()

    page.scan(choice="CONFIRM")
    short = ShortPick.objects.get()
    # asked = the bin's book on hand (12), available = what the clerk found (3).
    assert (short.item, short.location, short.lot, short.asked, short.available, short.by, short.source) == (
        world.knife,
        world.bins["A-01-01"],
        None,
        Decimal(12),
        Decimal(3),
        world.clerk,
        "floor",
    )
    assert ledger_snapshot() == before  # a report moves nothing
    # The pick goes on: same item, from A-01-01, at most the 3 found.
    assert any("A-01-01 reported short of KNF-0001 (found 3, the book has 12)" in n for n in page.notes), page.notes
    assert page.prompt.endswith("Type the quantity (each)")
    assert (page.fields["s_item"], page.fields["s_pick_bin"]) == (
        f"item:{world.knife.pk}",
        f"loc:{world.bins['A-01-01'].pk}",
    )

    page.scan("4")  # more than was found there
    assert any("You found 3 in A-01-01: take at most 3 from there" in e for e in page.errors), page.errors
    assert ledger_snapshot() == before

    page.scan("3")
    assert "Picked" in page.result or "Done" in page.result, page.result
    assert _on_hand(world, world.knife, "A-01-01") == Decimal(9)  # 12 booked - 3 taken
    assert "s_item" not in page.fields  # the pick is done: the next form starts empty
    assert ShortPick.objects.count() == 1


def test_confirming_twice_or_reporting_again_the_same_day_records_once(world, scanner):
    page = scanner("pick").scan(KNIFE_EAN)
    page.scan(choice=_short_button(page, "A-01-01")).scan("3").scan(choice="CONFIRM")
    page.resend()  # the Confirm form sent again
    second = scanner("pick").scan(KNIFE_EAN)
    second.scan(choice=_short_button(second, "A-01-01")).scan("2").scan(choice="CONFIRM")

    # The service's rule: one record per item, bin, lot and day, the first one.
    assert list(ShortPick.objects.values_list("asked", "available")) == [(Decimal(12), Decimal(3))]


def test_found_none_the_pick_needs_another_bin(world, scanner):
    before = ledger_snapshot()
    page = scanner("pick").scan(COFFEE_EAN)
    # FEFO proposes A-01-03 (lot L-EARLY, 3) first; the clerk finds none there.
    page.scan(choice=_short_button(page, "A-01-03")).scan("0").scan(choice="CONFIRM")
    short = ShortPick.objects.get()
    assert (short.location, short.lot, short.asked, short.available) == (
        world.bins["A-01-03"],
        world.early,
        Decimal(3),
        Decimal(0),
    )
    assert "s_pick_bin" not in page.fields  # nothing there: no bin is kept
    assert any("Scan the bin you take from instead" in n for n in page.notes), page.notes

    page.scan("2")  # without a bin the product would pick A-01-03 first, by the book
    assert any("Scan the bin you take from: A-01-03 was reported short" in e for e in page.errors), page.errors
    assert ledger_snapshot() == before

    page.scan("LOC-AMS-A-01-02").scan("2")
    issue = Movement.objects.latest("id")
    assert (issue.source, issue.lot, issue.quantity) == (world.bins["A-01-02"], world.late, Decimal(2))


def test_found_as_many_as_the_book_is_not_short(world, scanner):
    page = scanner("pick").scan(KNIFE_EAN)
    page.scan(choice=_short_button(page, "A-01-01")).scan("12")

    assert any("The book has 12 KNF-0001 in A-01-01 and you found 12: that is not short" in e for e in page.errors)
    assert page.prompt.endswith("(each; 0 if none)")  # asked again
    assert not ShortPick.objects.exists()


def test_confirm_needs_the_button_and_start_over_records_nothing(world, scanner):
    page = scanner("pick").scan(KNIFE_EAN)
    page.scan(choice=_short_button(page, "A-01-01")).scan("3")
    page.scan("")  # Enter on the empty field is no confirmation
    page.scan("yes")
    assert any("Tap Confirm to report A-01-01 short" in e for e in page.errors), page.errors
    assert not ShortPick.objects.exists()

    scanner("pick")  # Start over: a fresh form
    assert not ShortPick.objects.exists()


def test_a_report_of_another_warehouses_bin_or_a_forged_button_is_refused(world, scanner):
    page = scanner("pick").scan(KNIFE_EAN)
    page.scan(choice=f"SHORT:{world.rtm_bin.pk}:0")
    assert any("Bin A-01-01 is in warehouse RTM; you are working in AMS" in e for e in page.errors), page.errors
    page.scan(choice="SHORT:x:y")
    assert any("tap the button of the bin again" in e for e in page.errors), page.errors
    page.scan(choice=f"SHORT:{world.bins['A-01-02'].pk}:0")  # no knives booked there
    assert any("The book has no KNF-0001 in A-01-02" in e for e in page.errors), page.errors
    assert not ShortPick.objects.exists()


def test_the_next_count_plan_ranks_the_reported_bin(world, scanner):
    page = scanner("pick").scan(KNIFE_EAN)
    page.scan(choice=_short_button(page, "A-01-01")).scan("3").scan(choice="CONFIRM")

    today = timezone.localdate()
    next_weekday = today + timedelta(days=1)
    while next_weekday.weekday() >= 5:
        next_weekday += timedelta(days=1)
    candidates, _quota = plan_candidates(world.ams, next_weekday)
    # No item is class-due (rank 0) or has a recent variance (1): the short-picked knife (2) is first.
    assert (candidates[0].item_id, candidates[0].rank) == (world.knife.pk, 2)

"""The floor's look-up hides the book of a bin that an open blind count covers ("count open"),
and everything that would let a clerk work it out (the item's totals, its lot totals, the
movements in or out of that bin); once the count is submitted the quantities show again. A
count started with ``blind=False`` hides nothing; the admin shows managers everything.

World (tests/floor/conftest.py): 12 KNF-0001 in AMS/A-01-01; 30 CDL-0001 and 5 FOD-0001 of lot
L-LATE in A-01-02; 3 FOD-0001 L-EARLY in A-01-03.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from counting.models import Count, CountKind, CountStatus
from counting.services import count_line_record, count_start, count_submit
from stock import services
from stock.selectors import stock_on_hand
from tests.floor.conftest import CANDLE_EAN, COFFEE_EAN, KNIFE_EAN
from tests.stock.factories import ledger_snapshot

pytestmark = pytest.mark.django_db


def _page(client: Client, code: str) -> str:
    return client.get(f"/floor/lookup/?code={code}").content.decode()


def _totals(page: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>([\w ]+)</dt><dd>([\d.]+)</dd>", page))


def _rows(page: str) -> list[list[str]]:
    """The cells of the look-up's table rows, tags stripped."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


@pytest.fixture
def blind_count(world) -> Count:
    return count_start(warehouse=world.ams, locations=[world.bins["A-01-02"]], actor=world.manager)


def test_a_bin_under_a_blind_count_shows_what_is_there_but_no_quantity(world, clerk_client, blind_count):
    page = _page(clerk_client, "LOC-AMS-A-01-02")

    assert "Count open at A-01-02" in page
    # Items and lots are listed (the count lists them too), their quantities are not.
    assert [(row[0].split()[0], row[1].split()[0], row[2]) for row in _rows(page)] == [
        ("CDL-0001", "—", "count open"),
        ("FOD-0001", "L-LATE", "count open"),
    ]
    assert ">30<" not in page and ">5<" not in page
    assert "Last movements" not in page  # the receipts into the bin would tell its book


def test_an_item_in_a_counted_bin_hides_that_bin_and_its_totals_only(world, clerk_client, blind_count):
    page = _page(clerk_client, COFFEE_EAN)

    # A-01-03 is not counted: 3 of L-EARLY shows; A-01-02 (5 of L-LATE) does not.
    assert [(row[0], row[1].split()[0], row[2:]) for row in _rows(page)] == [
        ("A-01-02", "L-LATE", ["count open"]),
        ("A-01-03", "L-EARLY", ["3", "3"]),
    ]
    # Totals (8 = 3 + 5) and lot totals would give the counted bin's 5 away by a subtraction.
    assert _totals(page) == {} and "Count open at A-01-02" in page
    assert "<h2>Lots</h2>" not in page
    # Last movements: the receipt of L-EARLY into A-01-03 only, not that of L-LATE into A-01-02.
    movements = page.split("Last movements", 1)[1]
    assert "L-EARLY" in movements and "L-LATE" not in movements


def test_a_bin_not_on_the_count_shows_as_before(world, clerk_client, blind_count):
    page = _page(clerk_client, "KNF-0001")

    assert _totals(page) == {"On hand": "12", "Reserved": "0", "Available": "12"}
    assert "count open" not in page.lower()


def test_an_empty_bin_under_count_does_not_say_empty(world, clerk_client):
    count_start(warehouse=world.ams, locations=[world.bins["A-01-03"]], actor=world.manager)
    empty = world.bins["A-01-03"]
    services.stock_issue(item=world.coffee, location=empty, quantity=Decimal(3), lot=world.early, actor=None)
    page = _page(clerk_client, "LOC-AMS-A-01-03")

    assert "Count open at A-01-03" in page and "Empty." not in page


def test_the_quantities_show_again_once_the_count_is_submitted(world, clerk_client, blind_count):
    # Counted as booked (30 candles, 5 coffee): no variance, both lines post, no recount.
    for item, lot, quantity in ((world.candle, None, 30), (world.coffee, world.late, 5)):
        count_line_record(
            count=blind_count, location=world.bins["A-01-02"], item=item, lot=lot, quantity=quantity, actor=world.clerk
        )
    count_submit(count=blind_count, actor=world.clerk)
    blind_count.refresh_from_db()
    assert blind_count.status != CountStatus.OPEN

    page = _page(clerk_client, "LOC-AMS-A-01-02")
    assert "count open" not in page.lower()
    assert [row[2:] for row in _rows(page)] == [["30", "30"], ["5", "5"]]
    assert _totals(_page(clerk_client, COFFEE_EAN)) == {"On hand": "8", "Reserved": "0", "Available": "8"}


def test_a_bin_stays_hidden_while_a_line_waits_for_its_blind_recount(world, clerk_client, blind_count):
    # 20 of 30 candles: beyond the tolerance, so the line goes to a recount (an open blind count).
    for item, lot, quantity in ((world.candle, None, 20), (world.coffee, world.late, 5)):
        count_line_record(
            count=blind_count, location=world.bins["A-01-02"], item=item, lot=lot, quantity=quantity, actor=world.clerk
        )
    count_submit(count=blind_count, actor=world.clerk)
    recount = Count.objects.get(kind=CountKind.RECOUNT)
    assert (recount.status, recount.blind) == (CountStatus.OPEN, True)

    page = _page(clerk_client, "LOC-AMS-A-01-02")
    assert "Count open at A-01-02" in page and ">30<" not in page


def test_a_count_that_is_not_blind_hides_nothing(world, clerk_client):
    count_start(warehouse=world.ams, locations=[world.bins["A-01-02"]], actor=world.manager, blind=False)

    page = _page(clerk_client, "LOC-AMS-A-01-02")
    assert "count open" not in page.lower()
    assert [row[2:] for row in _rows(page)] == [["30", "30"], ["5", "5"]]


def test_managers_still_see_the_book_in_the_admin(world, blind_count):
    manager = Client()
    manager.force_login(world.manager)

    page = manager.get("/admin/stock/stocklevel/", {"location__id__exact": world.bins["A-01-02"].pk})
    assert page.status_code == 200
    assert "A-01-02" in page.content.decode() and "30" in page.content.decode()


# --- The jobs hide a counted bin's book too (Pick's proposal, Move's bin contents, refusals) ---------


def test_picks_proposal_shows_a_counted_bin_without_its_quantity(world, scanner, blind_count):
    page = scanner("pick").scan(COFFEE_EAN)
    # FOD-0001: 3 of L-EARLY in A-01-03 (not counted), 5 of L-LATE in A-01-02 (counted).
    proposal = re.findall(
        r"<li[^>]*>(.*?)</li>", page.html.split('<ol class="proposal">', 1)[1].split("</ol>")[0], re.S
    )
    texts = [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in proposal]
    assert [t for t in texts if "A-01-03" in t][0].count("3 available") == 1
    assert "count open" in [t for t in texts if "A-01-02" in t][0]
    assert "5 available" not in page.html


def test_a_pick_beyond_a_counted_bins_stock_is_refused_without_its_quantity(world, scanner, blind_count):
    before = ledger_snapshot()
    # Warehouse-wide: 3 + 5 = 8 available, 9 asked; the sum would tell A-01-02's book (8 - 3).
    page = scanner("pick").scan(COFFEE_EAN).scan("9")
    assert any("A count is open there" in e for e in page.errors), page.errors
    assert not any("Enter" in e or " 8 " in f" {e} " for e in page.errors)
    # From the counted bin itself: 6 asked, 5 there.
    page = scanner("pick").scan(COFFEE_EAN).scan("LOC-AMS-A-01-02").scan("6")
    assert any("A count is open there" in e for e in page.errors), page.errors
    assert not any("Enter" in e or " 5 " in f" {e} " for e in page.errors)
    assert ledger_snapshot() == before


def test_moves_bin_contents_and_available_quantity_hide_a_counted_bin(world, scanner, blind_count):
    page = scanner("move").scan("LOC-AMS-A-01-02")
    contents = page.html.split("<h2>In A-01-02</h2>", 1)[1].split("</section>", 1)[0]
    assert "CDL-0001" in contents and "count open" in contents and ">30<" not in contents
    page.scan(CANDLE_EAN)
    assert "Count open in A-01-02" in page.html and "available in A-01-02" not in page.html
    page.scan("31")  # 30 there
    assert any("A count is open there" in e for e in page.errors), page.errors
    assert not any("30" in e for e in page.errors)
    page.scan("4").scan("LOC-AMS-A-01-01")  # a move within the book still posts
    assert stock_on_hand(item=world.candle, location=world.bins["A-01-02"]).on_hand == Decimal(26)  # 30 - 4


def test_moves_from_a_bin_without_a_count_still_show_its_quantity(world, scanner, blind_count):
    page = scanner("move").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN)
    assert "12</strong> available in A-01-01" in page.html

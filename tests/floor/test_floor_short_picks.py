"""The Pick job records a short pick when the bin the clerk named holds less than asked (issue
15): the refusal still posts nothing; a pick short across the whole warehouse (no bin named) is
not a bin's short pick; the same refusal again the same day adds no second record."""

from __future__ import annotations

from decimal import Decimal

from stock.models import ShortPick
from tests.floor.conftest import COFFEE_EAN, KNIFE_EAN
from tests.stock.factories import ledger_snapshot


def test_a_pick_from_a_named_bin_holding_too_little_is_recorded_once(world, scanner):
    before = ledger_snapshot()
    page = scanner("pick").scan(KNIFE_EAN).scan("LOC-AMS-A-01-01").scan("15")  # 12 knives in A-01-01
    assert any("Only 12 of KNF-0001 available at" in e and "Enter 12 or less." in e for e in page.errors)
    assert ledger_snapshot() == before  # the refusal posts nothing
    short = ShortPick.objects.get()
    assert (short.item, short.location, short.lot, short.asked, short.available, short.by, short.source) == (
        world.knife,
        world.bins["A-01-01"],
        None,
        Decimal(15),
        Decimal(12),
        world.clerk,
        "floor",
    )
    assert short.warehouse == world.ams
    page.resend()  # the same refusal again the same day: still one record
    assert ShortPick.objects.count() == 1


def test_a_named_bin_and_lot_holding_too_little(world, scanner):
    # Coffee lot L-LATE: 5 in A-01-02; the clerk names the bin and the lot and asks 6.
    page = scanner("pick").scan(COFFEE_EAN).scan("LOC-AMS-A-01-02").scan("L-LATE").scan("6")
    assert any("Only 5 of FOD-0001 (lot L-LATE) available" in e for e in page.errors), page.errors
    short = ShortPick.objects.get()
    assert (short.location, short.lot, short.asked, short.available) == (
        world.bins["A-01-02"],
        world.late,
        Decimal(6),
        Decimal(5),
    )


def test_a_bin_without_the_item_before_any_quantity_records_nothing(world, scanner):
    # Scanning a bin with no knives is refused at once, before a quantity was asked: no record.
    page = scanner("pick").scan(KNIFE_EAN).scan("LOC-AMS-A-01-02")
    assert any("No KNF-0001 is available in bin A-01-02" in e for e in page.errors), page.errors
    assert not ShortPick.objects.exists()


def test_a_pick_short_across_the_warehouse_is_no_bins_short_pick(world, scanner):
    page = scanner("pick").scan(KNIFE_EAN).scan("15")  # no bin named: FEFO over AMS, 12 there
    assert any("Only 12 of KNF-0001 available in warehouse AMS" in e for e in page.errors)
    assert not ShortPick.objects.exists()


def test_a_pick_within_the_bin_records_nothing(world, scanner):
    scanner("pick").scan(KNIFE_EAN).scan("LOC-AMS-A-01-01").scan("12")
    assert not ShortPick.objects.exists()

"""The floor reads typed quantities by the one rule of every door (catalog.numbers): "1,000"
is refused as ambiguous (before: read as 1 and posted), "2,5" is two and a half."""

from __future__ import annotations

from tests.floor.conftest import KNIFE_EAN
from tests.stock.factories import ledger_snapshot


def test_one_comma_thousand_is_refused_on_the_receive_page_and_nothing_is_written(world, scanner):
    before = ledger_snapshot()

    page = scanner("receive").scan(KNIFE_EAN).scan("1,000")

    assert any("'1,000' is ambiguous: write one thousand as 1000" in e for e in page.errors), page.errors
    assert page.prompt  # still asking, on the quantity step
    assert ledger_snapshot() == before


def test_an_underscore_thousand_is_not_a_quantity(world, scanner):
    before = ledger_snapshot()
    page = scanner("receive").scan(KNIFE_EAN).scan("1_000")
    assert any('"1_000" is not a quantity' in e for e in page.errors), page.errors
    assert ledger_snapshot() == before

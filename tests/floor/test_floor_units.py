"""The clerk pages and quantities' units (issue 12, finding 4): half a knife is refused at the
quantity step, with the message that names it, and nothing is written; quantities are shown
with their unit's places ("12 available", "1.250" for kg)."""

from __future__ import annotations

import re
from decimal import Decimal

from catalog.models import Item, UnitOfMeasure
from stock import services
from tests.floor.conftest import KNIFE_EAN
from tests.stock.factories import ledger_snapshot


def test_receiving_half_a_knife_is_refused_at_the_quantity_and_writes_nothing(world, scanner):
    before = ledger_snapshot()
    page = scanner("receive").scan(KNIFE_EAN).scan("2.5")

    assert page.errors == [
        "Not posted. KNF-0001 is counted in whole units (each); 2.5 is not allowed. Enter a whole number."
    ]
    assert "Type the quantity (each)" in page.prompt  # asked again
    assert ledger_snapshot() == before


def test_moving_half_a_knife_is_refused_and_writes_nothing(world, scanner):
    before = ledger_snapshot()
    page = scanner("move").scan("LOC-AMS-A-01-01").scan(KNIFE_EAN)
    assert "12</strong> available in A-01-01" in page.html  # not 12.0000

    page.scan("0.5")

    assert any("KNF-0001 is counted in whole units (each); 0.5 is not allowed." in e for e in page.errors)
    assert ledger_snapshot() == before


def test_a_kilogram_item_shows_its_three_places_on_the_lookup(world, clerk_client):
    kg, _ = UnitOfMeasure.objects.get_or_create(
        code="kg", defaults={"name": "Kilogram", "dimension": "mass", "ratio": Decimal(1)}
    )
    UnitOfMeasure.objects.filter(pk=kg.pk).update(decimal_places=3)
    sugar = Item.objects.create(sku="SUG-0001", name="Sugar loose", base_unit_id=kg.pk)
    services.stock_receive(item=sugar, location=world.bins["A-01-01"], quantity=Decimal("1.25"), actor=None)

    page = clerk_client.get("/floor/lookup/?code=SUG-0001").content.decode()

    totals = dict(re.findall(r"<dt>([\w ]+)</dt><dd>([\d.]+)</dd>", page))
    assert totals == {"On hand": "1.250", "Reserved": "0.000", "Available": "1.250"}

"""After a refused posting the job page asks again on the refusal's type, never on its words
(issue 13): ``InsufficientStock`` asks the quantity again; any other ``StockError`` keeps the
quantity, whatever its message says, and only the last step is asked again. Nothing is written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stock.floor.engine import JOBS, State
from stock.floor.jobs import ReceiveJob
from stock.services import InsufficientStock, StockError
from tests.floor.conftest import KNIFE_EAN
from tests.stock.factories import ledger_snapshot

pytestmark = pytest.mark.django_db


class RefusingReceive(ReceiveJob):
    """Receive, whose posting the service refuses with ``refusal`` (built from the state)."""

    slug = "test-refusing-receive"
    refusal = None

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        raise type(self).refusal(st)


@pytest.fixture
def refusing() -> Iterator[type[RefusingReceive]]:
    JOBS[RefusingReceive.slug] = RefusingReceive()
    yield RefusingReceive
    JOBS.pop(RefusingReceive.slug, None)


def _receive_knife(world, scanner):  # noqa: ANN001, ANN202
    before = ledger_snapshot()
    # Receive: item, quantity, bin; the last scan completes the job and posts.
    page = scanner(RefusingReceive.slug).scan(KNIFE_EAN).scan("5").scan("LOC-AMS-A-01-02")
    assert ledger_snapshot() == before
    return page


def test_a_refusal_whose_words_start_with_only_keeps_the_quantity(world, scanner, refusing):
    refusing.refusal = lambda st: StockError("Only managers receive knives today.")
    page = _receive_knife(world, scanner)
    assert page.errors == ["Not posted. Only managers receive knives today. Nothing was posted."]
    assert page.fields["s_item"] == f"item:{world.knife.pk}"
    assert page.fields["s_quantity"] == "5"  # kept: the refusal is not about the quantity
    assert "s_destination" not in page.fields  # the last step is asked again
    assert page.prompt.endswith("Scan the bin you put it in")  # step 3 of 3


def test_insufficient_stock_asks_the_quantity_again(world, scanner, refusing):
    refusing.refusal = lambda st: InsufficientStock(
        item=st.get("item"), location=st.get("destination"), lot=None, asked=st.get("quantity"), available=2
    )
    page = _receive_knife(world, scanner)
    assert page.errors == ["Not posted. Only 2 of KNF-0001 available at AMS/A-01-02; asked 5. Nothing was posted."]
    assert page.fields["s_item"] == f"item:{world.knife.pk}"
    assert "s_quantity" not in page.fields and "s_destination" not in page.fields
    assert page.prompt.endswith("Type the quantity (each)")  # step 2 of 3

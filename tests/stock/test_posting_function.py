"""The database function ``stock_post_line`` posts exactly what the Python path posts.

On PostgreSQL a one-line posting that reverses nothing goes through ``stock_post_line``
(migration stock 0006, ``stock.services._post_line_in_database``); batches, reversals and every
posting on SQLite go through ``stock.services._post``. These tests run the same random
sequences of postings through both, each on its own copy of an item, and require the same
outcome at every step (the cost posted, or the same refusal) and the same levels, valuations,
FIFO layers and layer consumptions at the end. The rest of the suite, run on PostgreSQL,
exercises the function everywhere else.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stock.services as services
from catalog.models import Item, Location, LocationKind
from stock.models import (
    MONEY_STEP,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Lot,
    Movement,
    MovementKind,
    StockLevel,
)
from stock.services import InsufficientStock, MovementLine, movement_post, stock_issue, stock_receive
from tests.stock.factories import ItemFactory, LocationFactory, LotFactory, UnitFactory, WarehouseFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the posting function exists on PostgreSQL only"),
]

QUANTITIES = [Decimal(v) for v in ("1", "2", "0.5", "3.3333", "0.0001", "7", "12.25")]
UNIT_COSTS = [None, Decimal("0.0001"), Decimal("1.2345"), Decimal("3.3333"), Decimal("10"), Decimal("0")]
TOTAL_COSTS = [None, None, Decimal("7.1234"), Decimal("0.0003")]
BINS = ["a", "b", "c", "n"]  # a, b in WH1; c in WH2; n in a warehouse that allows negative stock

# (movement kind, source, destination): a bin letter, or a virtual location kind.
OPERATIONS = {
    "receive": (MovementKind.RECEIPT, LocationKind.SUPPLIER, "bin"),
    "issue": (MovementKind.ISSUE, "bin", LocationKind.CUSTOMER),
    "transfer": (MovementKind.TRANSFER, "bin", "bin"),
    "scrap": (MovementKind.SCRAP, "bin", LocationKind.SCRAP),
    "gain": (MovementKind.ADJUSTMENT, LocationKind.INVENTORY_ADJUSTMENT, "bin"),
    "loss": (MovementKind.ADJUSTMENT, "bin", LocationKind.INVENTORY_ADJUSTMENT),
    "customer_return": (MovementKind.CUSTOMER_RETURN, LocationKind.CUSTOMER, "bin"),
    "supplier_return": (MovementKind.SUPPLIER_RETURN, "bin", LocationKind.SUPPLIER),
}

steps = st.lists(
    st.tuples(
        st.sampled_from(sorted(OPERATIONS)),
        st.sampled_from(BINS),
        st.sampled_from(BINS),
        st.sampled_from(QUANTITIES),
        st.sampled_from(UNIT_COSTS),
        st.sampled_from(TOTAL_COSTS),
    ),
    min_size=1,
    max_size=30,
)


@pytest.fixture
def places(virtual) -> dict[str, Location]:
    first, second = WarehouseFactory(code="FN1"), WarehouseFactory(code="FN2")
    negative = WarehouseFactory(code="FNN", allow_negative_stock=True)
    found = {
        "a": LocationFactory(warehouse=first, code="FA"),
        "b": LocationFactory(warehouse=first, code="FB"),
        "c": LocationFactory(warehouse=second, code="FC"),
        "n": LocationFactory(warehouse=negative, code="FN"),
    }
    for kind in OPERATIONS.values():
        for side in kind[1:]:
            if side != "bin":
                found[side] = virtual(side)
    return found


def _twin(lot_tracked: bool, fifo: bool) -> tuple[Item, Lot | None]:
    # A unit of 4 places: the quantities exercise 4-place arithmetic ("each" counts whole units).
    carat = UnitFactory(code="ct", name="Carat", dimension="mass", ratio=None, decimal_places=4)
    item = ItemFactory(standard_cost=Decimal("2.5"), lot_tracked=lot_tracked, fifo=fifo, base_unit=carat)
    return item, (LotFactory(item=item) if lot_tracked else None)


def _line(step: tuple, item: Item, lot: Lot | None, places: dict[str, Location]) -> MovementLine | None:
    operation, first, second, quantity, unit_cost, total_cost = step
    kind, source, destination = OPERATIONS[operation]
    source = places[first] if source == "bin" else places[source]
    destination = places[second if source.is_internal else first] if destination == "bin" else places[destination]
    if source.pk == destination.pk:
        return None
    incoming = not source.is_internal
    return MovementLine(
        item=item,
        lot=lot,
        quantity=quantity,
        source=source,
        destination=destination,
        kind=kind,
        reason_code="counted" if kind == MovementKind.ADJUSTMENT else "",
        unit_cost=unit_cost if incoming else None,
        total_cost=total_cost if incoming and operation == "receive" else None,
    )


def _outcome(line: MovementLine, *, in_database: bool) -> tuple:
    with override_settings(STOCK_POSTING_FUNCTION=in_database):
        try:
            (movement,) = movement_post(lines=line, actor=None)
        except InsufficientStock as refusal:
            return ("refused", refusal.available, refusal.asked)
    stored = Movement.objects.get(pk=movement.pk)
    assert (stored.unit_cost, stored.total_cost) == (movement.unit_cost, movement.total_cost)
    return ("posted", stored.quantity, stored.unit_cost, stored.total_cost, stored.source_id, stored.destination_id)


def _state(item: Item) -> tuple:
    levels = sorted(
        StockLevel.objects.filter(item=item).values_list("location_id", "on_hand", "reserved", "allow_negative")
    )
    valuations = sorted(
        ItemValuation.objects.filter(item=item).values_list("warehouse_id", "quantity", "value", "last_unit_cost")
    )
    layers = list(
        CostLayer.objects.filter(item=item)
        .order_by("id")
        .values_list("id", "warehouse_id", "unit_cost", "quantity", "remaining_quantity", "remaining_value")
    )
    position = {layer[0]: number for number, layer in enumerate(layers)}  # ids differ between the twins
    consumptions = [
        (position[layer_id], quantity, value)
        for layer_id, quantity, value in CostLayerConsumption.objects.filter(layer__item=item)
        .order_by("id")
        .values_list("layer_id", "quantity", "value")
    ]
    return levels, valuations, [layer[1:] for layer in layers], consumptions


@pytest.fixture
def python_posts(monkeypatch) -> list[int]:
    """Counts the postings that went through the Python path."""
    calls: list[int] = []
    original = services._post

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "_post", counted)
    return calls


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lot_tracked", "fifo"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["average", "average-lot", "fifo", "fifo-lot"],
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=steps)
def test_function_and_python_path_post_the_same(places, python_posts, lot_tracked, fifo, sequence) -> None:
    (by_function, function_lot), (by_python, python_lot) = _twin(lot_tracked, fifo), _twin(lot_tracked, fifo)
    python_posts.clear()
    for number, step in enumerate(sequence, start=1):
        function_line = _line(step, by_function, function_lot, places)
        if function_line is None:
            continue
        calls = len(python_posts)
        function_outcome = _outcome(function_line, in_database=True)
        assert len(python_posts) == calls, "the function path fell back to Python"
        python_outcome = _outcome(_line(step, by_python, python_lot, places), in_database=False)
        assert function_outcome == python_outcome, f"step {number}: {step}"
    assert _state(by_function) == _state(by_python), "levels, valuations or FIFO layers differ after the sequence"


@pytest.mark.django_db
@settings(max_examples=200, deadline=None)
@given(
    value=st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=8, allow_nan=False)
    | st.sampled_from([Decimal(v) for v in ("0.00005", "0.00015", "-0.00005", "-0.00015", "2.50005", "1.23445")])
)
def test_money_rounding_in_sql_is_pythons(value) -> None:
    """``stock_money_round`` rounds like ``Decimal.quantize`` in Python's default context
    (half to even), ties included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT stock_money_round(%s::numeric)", [value])
        (rounded,) = cursor.fetchone()
    assert rounded == value.quantize(MONEY_STEP)


def test_refusal_inside_a_transaction_keeps_the_transaction_usable(item, bin_a, actor, snapshot) -> None:
    """Inside the caller's transaction the function runs in a savepoint: a refusal rolls back
    only the posting, and the caller can go on and commit other work."""
    with transaction.atomic():
        stock_receive(item=item, location=bin_a, quantity=Decimal(2), unit_cost=Decimal(3), actor=actor)
        before = snapshot()
        with pytest.raises(InsufficientStock) as refused:
            stock_issue(item=item, location=bin_a, quantity=Decimal(5), actor=actor)
        assert (refused.value.asked, refused.value.available) == (Decimal(5), Decimal(2))
        assert snapshot() == before
        stock_issue(item=item, location=bin_a, quantity=Decimal(2), actor=actor)
    assert StockLevel.objects.get(item=item, location=bin_a).on_hand == 0
    assert Movement.objects.filter(item=item).count() == 2


def test_refusal_from_an_empty_location_creates_no_rows(item, bin_a, actor, snapshot) -> None:
    """The function creates missing level and valuation rows before it locks; a refusal rolls
    them back with everything else."""
    before = snapshot()
    with pytest.raises(InsufficientStock) as refused:
        stock_issue(item=item, location=bin_a, quantity=Decimal(1), actor=actor)
    assert refused.value.available == 0
    assert "Only 0 of WIDGET available at" in str(refused.value)
    assert snapshot() == before


def test_one_statement_per_posting(item, bin_a, actor, virtual) -> None:
    """A posting whose rows exist is one call of the function; inside a transaction, between
    a savepoint and its release (outside one it is its own transaction, with no BEGIN or
    COMMIT). The first posting of an item at a place is refused for the missing rows (IV002)
    and called again, creating them before taking any lock."""
    stock_receive(item=item, location=bin_a, quantity=Decimal(5), unit_cost=Decimal(2), actor=actor)

    def sale(key: str) -> list[str]:
        line = MovementLine(
            item=item, quantity=Decimal(1), source=bin_a, destination=virtual("customer"), kind=MovementKind.ISSUE
        )
        with CaptureQueriesContext(connection) as captured:
            movement_post(lines=line, actor=actor, idempotency_key=key)
        return [query["sql"].split("(")[0] for query in captured.captured_queries if "SAVEPOINT" not in query["sql"]]

    assert sale("first-sale") == ["SELECT * FROM stock_post_line"] * 2  # no customer level yet
    assert sale("second-sale") == ["SELECT * FROM stock_post_line"]
    assert StockLevel.objects.get(item=item, location=bin_a).on_hand == 3

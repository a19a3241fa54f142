"""The database function ``stock_post_line`` posts exactly what the Python path posts.

On PostgreSQL a one-line posting that reverses nothing goes through ``stock_post_line``
(migration stock 0006, ``stock.services.function._post_line_in_database``); batches, reversals and every
posting on SQLite go through ``stock.services.posting._post``. These tests run the same random
sequences of postings through both, each on its own copy of an item, and require the same
outcome at every step (the cost posted, or the same refusal) and the same levels, valuations,
FIFO layers and layer consumptions at the end. The rest of the suite, run on PostgreSQL,
exercises the function everywhere else.
"""

from __future__ import annotations

import hashlib
import inspect
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stock.services as services
from catalog.models import Item, Location, LocationKind
from stock.models import (
    MONEY_STEP,
    QTY_STEP,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Lot,
    Movement,
    MovementKind,
    StockLevel,
)
from stock.services import InsufficientStock, MovementLine, locks, movement_post, posting, stock_issue, stock_receive
from tests.stock import test_concurrency as concurrency
from tests.stock.factories import ItemFactory, LocationFactory, LotFactory, UnitFactory, WarehouseFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the posting function exists on PostgreSQL only"),
]

QUANTITIES = [Decimal(v) for v in ("1", "2", "0.5", "3.3333", "0.0001", "7", "12.25")]
UNIT_COSTS = [None, Decimal("0.0001"), Decimal("1.2345"), Decimal("3.3333"), Decimal("10"), Decimal("0")]
TOTAL_COSTS = [None, None, Decimal("7.1234"), Decimal("0.0003")]
BINS = ["a", "b", "c", "n"]  # a, b in WH1; c in WH2; n in a warehouse that allows negative stock
# On an outgoing line, how much of it consumes the source's reserved stock (a reservation
# consumed): none, all the line can take, or half of that. After an incoming line, how much of
# what arrived is then reserved there (the same on both twins, in Python).
RESERVED_SHARES = ["none", "all", "half"]
NOTES = ["", "counted twice", "Ünïcode ✓"]
WHEN = timezone.now().replace(microsecond=0) - timedelta(hours=1)  # every step posts at this moment, on both twins

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
        st.sampled_from(RESERVED_SHARES),
        st.sampled_from(NOTES),
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
    operation, first, second, quantity, unit_cost, total_cost, share, note = step
    kind, source, destination = OPERATIONS[operation]
    source = places[first] if source == "bin" else places[source]
    destination = places[second if source.is_internal else first] if destination == "bin" else places[destination]
    if source.pk == destination.pk:
        return None
    incoming = not source.is_internal
    reserved = Decimal(0)
    if not incoming and share != "none":
        level = StockLevel.objects.filter(item=item, location=source, lot=lot).first()
        reserved = min(quantity, level.reserved) if level is not None else Decimal(0)
        if share == "half":
            reserved = _half(reserved)
    return MovementLine(
        item=item,
        lot=lot,
        quantity=quantity,
        source=source,
        destination=destination,
        kind=kind,
        reason_code="counted" if kind == MovementKind.ADJUSTMENT else "",
        note=note,
        unit_cost=unit_cost if incoming else None,
        total_cost=total_cost if incoming and operation == "receive" else None,
        reserved=reserved,
        reference_type="test.parity",
        reference_id=operation,
        reference_line=first,
    )


def _declines(line: MovementLine) -> bool:
    """Would ``stock_post_line`` hand this line to Python (a warehouse pool short or going short)?"""
    source, destination = line.source.warehouse_id, line.destination.warehouse_id
    source = source if line.source.is_internal else None
    destination = destination if line.destination.is_internal else None
    if source == destination:
        return False
    pools = dict(ItemValuation.objects.filter(item=line.item).values_list("warehouse_id", "quantity"))
    return (source is not None and pools.get(source, 0) < line.quantity) or (
        destination is not None and pools.get(destination, 0) < 0
    )


def _half(quantity: Decimal) -> Decimal:
    return (quantity / 2).quantize(QTY_STEP, rounding=ROUND_DOWN)


def _reserve_after(line: MovementLine, share: str) -> tuple:
    """Reserve ``share`` of what ``line`` brought to its destination bin, when that much is
    available there (stock may be negative in the warehouse that allows it)."""
    wanted = line.quantity if share == "all" else _half(line.quantity)
    level = StockLevel.objects.get(item=line.item, location=line.destination, lot=line.lot)
    if share == "none" or not wanted or level.on_hand - level.reserved < wanted:
        return ("not reserved",)
    with transaction.atomic():
        locks._levels_change_reserved({(line.item.pk, line.destination.pk, line.lot and line.lot.pk): wanted})
    return ("reserved", wanted)


# Every column of a movement row but those that differ between the twins by construction.
MOVEMENT_COLUMNS = [
    f.attname
    for f in Movement._meta.concrete_fields
    if f.attname not in ("id", "batch", "item_id", "lot_id", "posted_at")
]


def _outcome(line: MovementLine, *, in_database: bool) -> tuple:
    with override_settings(STOCK_POSTING_FUNCTION=in_database):
        try:
            (movement,) = movement_post(lines=line, actor=None, occurred_at=WHEN)
        except InsufficientStock as refusal:
            return ("refused", refusal.available, refusal.asked)
    stored = Movement.objects.values(*MOVEMENT_COLUMNS).get(pk=movement.pk)
    assert (stored["unit_cost"], stored["total_cost"]) == (movement.unit_cost, movement.total_cost)
    return ("posted", stored)


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
    original = posting._post

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(posting, "_post", counted)  # looked up there by _post_movements
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
        calls, declines = len(python_posts), _declines(function_line)
        function_outcome = _outcome(function_line, in_database=True)
        fell_back = len(python_posts) > calls
        # The function declines exactly the lines that make a pool short or fill a short one.
        assert fell_back == (declines and function_outcome[0] == "posted"), f"step {number}: {step}"
        python_line = _line(step, by_python, python_lot, places)
        python_outcome = _outcome(python_line, in_database=False)
        assert function_outcome == python_outcome, f"step {number}: {step}"
        if function_outcome[0] == "posted" and function_line.destination.is_internal:
            share = step[6]
            assert _reserve_after(function_line, share) == _reserve_after(python_line, share), f"step {number}"
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
    """Inside the caller's transaction a refusal is undone inside the function's statement (no
    savepoint is sent): it rolls back only the posting, and the caller can go on and commit
    other work."""
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
    """A posting is one statement, ``stock_post_line_guarded``, and no savepoint around it,
    also inside a transaction (as here: the test's); outside one it is its own transaction,
    with no BEGIN or COMMIT. The first posting of an item at a place is refused for the missing
    rows (IV002) and called again creating them, inside that same statement."""
    stock_receive(item=item, location=bin_a, quantity=Decimal(5), unit_cost=Decimal(2), actor=actor)
    customer = virtual("customer")

    def sale(key: str) -> list[str]:
        line = MovementLine(item=item, quantity=Decimal(1), source=bin_a, destination=customer, kind=MovementKind.ISSUE)
        with CaptureQueriesContext(connection) as captured:
            movement_post(lines=line, actor=actor, idempotency_key=key)
        return [query["sql"].split("(")[0] for query in captured.captured_queries]

    assert not StockLevel.objects.filter(item=item, location=customer).exists()
    assert sale("first-sale") == ["SELECT * FROM stock_post_line_guarded"]  # no customer level yet: made inside
    assert StockLevel.objects.get(item=item, location=customer).on_hand == 1
    assert sale("second-sale") == ["SELECT * FROM stock_post_line_guarded"]
    assert StockLevel.objects.get(item=item, location=bin_a).on_hand == 3  # 5 received - 1 - 1


def test_a_used_key_is_answered_inside_a_transaction_without_a_savepoint(item, bin_a, actor, virtual) -> None:
    """The movement's unique idempotency key refuses a second posting under a used key inside
    the function's statement (``integrity``): the caller's transaction stays usable, and
    ``movement_post`` answers with the first posting's movement, writing nothing."""
    stock_receive(item=item, location=bin_a, quantity=Decimal(5), unit_cost=Decimal(2), actor=actor)
    line = MovementLine(
        item=item, quantity=Decimal(1), source=bin_a, destination=virtual("customer"), kind=MovementKind.ISSUE
    )
    with transaction.atomic():
        (first,) = movement_post(lines=line, actor=actor, idempotency_key="used-key")
        with CaptureQueriesContext(connection) as captured:
            (again,) = movement_post(lines=line, actor=actor, idempotency_key="used-key")
        assert again.pk == first.pk
        assert not any("SAVEPOINT" in query["sql"] for query in captured.captured_queries)
        assert Movement.objects.filter(item=item).count() == 2  # the receipt and the one sale
    assert StockLevel.objects.get(item=item, location=bin_a).on_hand == 4  # 5 - 1, once


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.django_db
def test_the_function_and_the_python_rules_it_mirrors_are_pinned_together() -> None:
    """``stock_post_line`` is a second implementation of the posting rules. Changing the SQL or
    the Python it mirrors fails here until both were looked at (and these parity tests run),
    and the pins in ``stock.services.POSTING_FUNCTION_PINS`` are set to the new sources."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, prosrc FROM pg_proc"
            " WHERE proname IN ('stock_post_line', 'stock_post_line_guarded', 'stock_money_round')"
            " ORDER BY proname"
        )
        sql = "\n".join(f"{name}:{source}" for name, source in cursor.fetchall())
    python = "\n".join(inspect.getsource(mirrored) for mirrored in services.POSTING_FUNCTION_MIRRORS)
    assert {"sql": _sha(sql), "python": _sha(python)} == services.POSTING_FUNCTION_PINS, (
        "The posting function or the Python rules it mirrors changed: make both agree, run these parity "
        "tests, then update stock.services.POSTING_FUNCTION_PINS."
    )


@pytest.mark.django_db(transaction=True)
def test_first_postings_racing_to_create_the_missing_rows_all_post_once(python_posts) -> None:
    """Eight first receipts of a new item at a new bin, at once: each call finds the level and
    valuation rows missing (IV002), releases its locks and calls again creating them with
    ``ON CONFLICT DO NOTHING``; all eight post through the function, one row each is created,
    and the books balance: 8 x 1 unit at 2.00 = 8 units worth 16.00."""
    _warehouse_code, (bin_x,) = concurrency._warehouse("RACE", "X-1")
    item = concurrency._item("RACE-1")
    actor = concurrency._actor()

    def receive():
        return stock_receive(item=item, location=bin_x, quantity=Decimal(1), unit_cost=Decimal(2), actor=actor)

    outcomes = concurrency._race([receive] * 8)

    concurrency._assert_only(outcomes)
    assert python_posts == [], "a first posting fell back to the Python path"
    assert StockLevel.objects.filter(item=item, location=bin_x).get().on_hand == 8
    assert StockLevel.objects.filter(item=item).count() == 2  # the bin and the suppliers' location
    assert ItemValuation.objects.filter(item=item).values_list("quantity", "value").get() == (Decimal(8), Decimal(16))
    assert Movement.objects.filter(item=item).count() == 8
    concurrency._assert_books_balance()

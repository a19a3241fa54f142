"""Postings racing each other on real PostgreSQL connections.

Every test starts its workers together behind a ``threading.Barrier``; each worker thread uses
its own Django connection (connections are per thread) and closes it when done. A worker that
is still running after ``JOIN_TIMEOUT`` fails the test instead of hanging it, and every
connection carries a ``statement_timeout`` so a lock wait cannot outlive the test either.

The tests prove the locking protocol of ``stock.services``: the last unit is sold once, opposite
transfers never deadlock, a retried posting counts once, and reservations never hold more than
is on hand.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, LocationLevel, UnitOfMeasure, ValuationMethod, Warehouse
from catalog.services import item_save
from stock.models import ItemValuation, Movement, MovementKind, Reservation, ReservationStatus, StockLevel
from stock.reconciliation import reconcile
from stock.services import (
    AlreadyReversed,
    InsufficientStock,
    InvalidMovement,
    MovementLine,
    lot_get_or_create,
    movement_post,
    movement_reverse,
    reservation_consume,
    reservation_create,
    reservation_release,
    stock_issue,
    stock_receive,
    stock_transfer,
    transfer_arrive,
    transfer_ship,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

JOIN_TIMEOUT = 60  # seconds for all workers of one race together
STATEMENT_TIMEOUT_MS = 20_000  # no single statement (lock wait included) may take longer

VIRTUAL_LOCATIONS = [
    ("SUPPLIER", "Suppliers", LocationKind.SUPPLIER),
    ("CUSTOMER", "Customers", LocationKind.CUSTOMER),
    ("INVENTORY-ADJ", "Inventory loss/gain", LocationKind.INVENTORY_ADJUSTMENT),
    ("SCRAP", "Scrap", LocationKind.SCRAP),
    ("TRANSIT", "In transit", LocationKind.TRANSIT),
]


# --- Data ---------------------------------------------------------------------------------------


def _ensure_virtual_locations() -> None:
    """The migration creates them, but a transactional test's flush removes them again."""
    for code, name, kind in VIRTUAL_LOCATIONS:
        Location.objects.get_or_create(
            kind=kind, warehouse=None, defaults={"code": code, "name": name, "level": LocationLevel.AREA}
        )


def _unit() -> UnitOfMeasure:
    unit, _ = UnitOfMeasure.objects.get_or_create(
        code="each", defaults={"name": "Each", "dimension": "count", "ratio": Decimal(1)}
    )
    return unit


def _actor():
    """A superuser: these tests are about locking, not about who may post where."""
    return get_user_model().objects.create_user(username=f"clerk-{uuid.uuid4().hex[:8]}", is_superuser=True)


def _warehouse(code: str, *bins: str) -> tuple[Warehouse, list[Location]]:
    _ensure_virtual_locations()
    warehouse = Warehouse.objects.create(code=code, name=f"Warehouse {code}")
    locations = [
        Location.objects.create(warehouse=warehouse, code=code_, kind=LocationKind.INTERNAL, level=LocationLevel.BIN)
        for code_ in bins
    ]
    return warehouse, locations


def _item(sku: str, *, method: str = ValuationMethod.MOVING_AVERAGE, tracking: str = "none") -> Item:
    return item_save(
        item=Item(sku=sku, name=f"Item {sku}", base_unit=_unit(), valuation_method=method, tracking=tracking)
    )


def _on_hand(item: Item, location: Location) -> Decimal:
    level = StockLevel.objects.filter(item=item, location=location, lot=None).first()
    return level.on_hand if level else Decimal(0)


# --- Racing -------------------------------------------------------------------------------------


def _race(workers: list[Callable[[], object]]) -> list[tuple[str, object]]:
    """Run every callable in its own thread and connection, all released at once by a barrier.

    Returns, in worker order, ``("ok", result)`` or ``("error", exception)``. Fails the test if
    a worker is still running after ``JOIN_TIMEOUT`` (a deadlock or a lost wake-up)."""
    barrier = threading.Barrier(len(workers), timeout=JOIN_TIMEOUT)
    outcomes: list[tuple[str, object] | None] = [None] * len(workers)

    def run(index: int, work: Callable[[], object]) -> None:
        started = False
        try:
            with connection.cursor() as cursor:  # open the connection before the start line
                cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            barrier.wait()
            started = True
            outcomes[index] = ("ok", work())
        except BaseException as exc:  # reported to the test thread
            if not started:
                barrier.abort()  # the others must not wait for a worker that cannot come
            outcomes[index] = ("error", exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(index, work), name=f"worker-{index}", daemon=True)
        for index, work in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"workers still running after {JOIN_TIMEOUT}s (deadlock?): {stuck}"
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def _errors(outcomes: list[tuple[str, object]]) -> list[BaseException]:
    return [value for status, value in outcomes if status == "error"]  # type: ignore[misc]


def _assert_only(outcomes: list[tuple[str, object]], *allowed: type[BaseException]) -> None:
    unexpected = [exc for exc in _errors(outcomes) if not isinstance(exc, allowed)]
    assert not unexpected, f"unexpected errors: {[f'{type(e).__name__}: {e}' for e in unexpected]}"


def _assert_books_balance() -> None:
    assert [str(d) for d in reconcile()] == []


# --- The last unit ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sixteen_clerks_selling_ten_units_sell_exactly_ten():
    actor = _actor()
    _, (shelf,) = _warehouse("RACE1", "A-01")
    item = _item("RACE-LAST")
    stock_receive(item=item, location=shelf, quantity=Decimal(10), unit_cost=Decimal("2.50"), actor=actor)

    def sell() -> list[Movement]:
        return stock_issue(item=item, quantity=Decimal(1), location=shelf, actor=actor)

    outcomes = _race([sell] * 16)

    _assert_only(outcomes, InsufficientStock)
    assert sum(status == "ok" for status, _ in outcomes) == 10
    assert len(_errors(outcomes)) == 6
    assert _on_hand(item, shelf) == 0
    issues = Movement.objects.filter(item=item, kind=MovementKind.ISSUE)
    assert issues.count() == 10
    assert sum(m.total_cost for m in issues) == Decimal("25.0000")
    valuation = ItemValuation.objects.get(item=item)
    assert (valuation.quantity, valuation.value) == (0, 0)
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_a_refused_sale_in_the_race_names_what_was_left():
    actor = _actor()
    _, (shelf,) = _warehouse("RACE2", "A-01")
    item = _item("RACE-REFUSED")
    stock_receive(item=item, location=shelf, quantity=Decimal(3), unit_cost=Decimal(1), actor=actor)

    outcomes = _race([lambda: stock_issue(item=item, quantity=Decimal(2), location=shelf, actor=actor)] * 4)

    _assert_only(outcomes, InsufficientStock)
    assert sum(status == "ok" for status, _ in outcomes) == 1
    for exc in _errors(outcomes):
        assert exc.asked == 2
        assert exc.available == 1
    assert _on_hand(item, shelf) == 1
    _assert_books_balance()


# --- Opposite transfers -------------------------------------------------------------------------


@pytest.mark.parametrize("method", [ValuationMethod.MOVING_AVERAGE, ValuationMethod.FIFO])
@pytest.mark.parametrize("across_warehouses", [False, True], ids=["same-warehouse", "two-warehouses"])
@pytest.mark.django_db(transaction=True)
def test_opposite_transfers_at_the_same_time_never_deadlock(method, across_warehouses):
    actor = _actor()
    if across_warehouses:
        _, (a,) = _warehouse("XA", "A-01")
        _, (b,) = _warehouse("XB", "B-01")
    else:
        _, (a, b) = _warehouse("XS", "A-01", "B-01")
    item = _item(f"SWAP-{method}", method=method)
    stock_receive(item=item, location=a, quantity=Decimal(100), unit_cost=Decimal(3), actor=actor)
    stock_receive(item=item, location=b, quantity=Decimal(100), unit_cost=Decimal(5), actor=actor)
    rounds = 5

    def a_to_b() -> None:
        for _ in range(rounds):
            stock_transfer(item=item, quantity=Decimal(2), source=a, destination=b, actor=actor)

    def b_to_a() -> None:
        for _ in range(rounds):
            stock_transfer(item=item, quantity=Decimal(1), source=b, destination=a, actor=actor)

    outcomes = _race([a_to_b, b_to_a] * 8)

    _assert_only(outcomes)  # no deadlock detected, no refusal: there is enough stock both ways
    assert _on_hand(item, a) == 100 - 8 * rounds * 2 + 8 * rounds * 1
    assert _on_hand(item, b) == 100 + 8 * rounds * 2 - 8 * rounds * 1
    assert Movement.objects.filter(item=item, kind=MovementKind.TRANSFER).count() == 16 * rounds
    total = ItemValuation.objects.filter(item=item)
    assert sum(v.quantity for v in total) == 200
    assert sum(v.value for v in total) == Decimal(800)  # transfers move value, never make or lose it
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_batches_naming_the_same_levels_in_opposite_orders_never_deadlock():
    actor = _actor()
    _, (a,) = _warehouse("BA", "A-01")
    _, (b,) = _warehouse("BB", "B-01")
    first, second = _item("BATCH-1"), _item("BATCH-2", method=ValuationMethod.FIFO)
    for item in (first, second):
        for location in (a, b):
            stock_receive(item=item, location=location, quantity=Decimal(50), unit_cost=Decimal(2), actor=actor)

    def transfer(item: Item, source: Location, destination: Location) -> MovementLine:
        return MovementLine(item=item, quantity=Decimal(1), source=source, destination=destination, kind="transfer")

    def forwards() -> None:  # first a->b, then second b->a
        for _ in range(5):
            movement_post(lines=[transfer(first, a, b), transfer(second, b, a)], actor=actor)

    def backwards() -> None:  # the mirror image, lines in the other order: second a->b, first b->a
        for _ in range(5):
            movement_post(lines=[transfer(second, a, b), transfer(first, b, a)], actor=actor)

    outcomes = _race([forwards, backwards] * 6)

    _assert_only(outcomes)
    for item in (first, second):
        assert (_on_hand(item, a), _on_hand(item, b)) == (50, 50)
    assert Movement.objects.filter(kind=MovementKind.TRANSFER, item__in=[first, second]).count() == 2 * 60
    _assert_books_balance()


# --- Idempotency --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_receipt_key_from_eight_workers_at_once_posts_once():
    actor = _actor()
    _, (shelf,) = _warehouse("IDEM1", "A-01")
    item = _item("IDEM-RECEIPT")  # no stock level exists yet: the workers also race to create them
    key = f"scanner-{uuid.uuid4()}"

    def receive() -> int:
        return stock_receive(
            item=item, location=shelf, quantity=Decimal(7), unit_cost=Decimal(4), actor=actor, idempotency_key=key
        ).pk

    outcomes = _race([receive] * 8)

    _assert_only(outcomes)
    ids = {value for _, value in outcomes}
    assert len(ids) == 1
    assert list(Movement.objects.filter(item=item).values_list("pk", flat=True)) == list(ids)
    assert _on_hand(item, shelf) == 7
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_the_same_sale_key_from_eight_workers_at_once_sells_once():
    actor = _actor()
    _, (shelf,) = _warehouse("IDEM2", "A-01")
    item = _item("IDEM-SALE", method=ValuationMethod.FIFO)
    stock_receive(item=item, location=shelf, quantity=Decimal(5), unit_cost=Decimal(4), actor=actor)
    key = f"order-{uuid.uuid4()}"

    def sell() -> int:
        (movement,) = stock_issue(item=item, quantity=Decimal(2), location=shelf, actor=actor, idempotency_key=key)
        return movement.pk

    outcomes = _race([sell] * 8)

    _assert_only(outcomes)
    assert len({value for _, value in outcomes}) == 1
    assert Movement.objects.filter(item=item, kind=MovementKind.ISSUE).count() == 1
    assert _on_hand(item, shelf) == 3
    _assert_books_balance()


# --- FEFO over several bins ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_fefo_issues_over_several_bins_take_each_unit_once():
    actor = _actor()
    warehouse, bins = _warehouse("FEFO1", "A-01", "A-02", "A-03")
    item = _item("FEFO-PLAIN")
    for shelf in bins:
        stock_receive(item=item, location=shelf, quantity=Decimal(5), unit_cost=Decimal(1), actor=actor)

    outcomes = _race([lambda: stock_issue(item=item, quantity=Decimal(1), warehouse=warehouse, actor=actor)] * 20)

    _assert_only(outcomes, InsufficientStock)
    sold = sum(status == "ok" for status, _ in outcomes)
    assert sold == 15, "every unit on the shelves is sold and none twice"
    assert all(_on_hand(item, shelf) == 0 for shelf in bins)
    assert Movement.objects.filter(item=item, kind=MovementKind.ISSUE).count() == 15
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_concurrent_fefo_issues_of_lots_never_oversell_a_lot():
    actor = _actor()
    warehouse, bins = _warehouse("FEFO2", "A-01", "A-02")
    item = _item("FEFO-LOTS", method=ValuationMethod.FIFO, tracking="lot")
    today = timezone.localdate()
    lots = [lot_get_or_create(item=item, code=f"L{n}", expiry_date=today + timedelta(days=10 * n)) for n in (1, 2, 3)]
    for shelf in bins:
        for lot in lots:
            stock_receive(item=item, location=shelf, quantity=Decimal(2), unit_cost=Decimal(1), lot=lot, actor=actor)

    outcomes = _race([lambda: stock_issue(item=item, quantity=Decimal(2), warehouse=warehouse, actor=actor)] * 8)

    _assert_only(outcomes, InsufficientStock)
    assert sum(status == "ok" for status, _ in outcomes) == 6  # 12 units, 2 per sale
    levels = StockLevel.objects.filter(item=item, location__kind=LocationKind.INTERNAL)
    assert all(level.on_hand == 0 for level in levels)
    _assert_books_balance()


# --- Reservations against sales -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_reservations_and_sales_competing_for_the_same_stock_never_over_allocate():
    actor = _actor()
    warehouse, (a, b) = _warehouse("RSV1", "A-01", "B-01")
    item = _item("RSV-RACE")
    stock_receive(item=item, location=a, quantity=Decimal(8), unit_cost=Decimal(1), actor=actor)
    stock_receive(item=item, location=b, quantity=Decimal(4), unit_cost=Decimal(1), actor=actor)

    def reserve() -> Reservation:
        return reservation_create(item=item, warehouse=warehouse, quantity=Decimal(2), actor=actor)

    def sell() -> list[Movement]:
        return stock_issue(item=item, quantity=Decimal(1), location=a, actor=actor)

    outcomes = _race([reserve, sell] * 8)

    _assert_only(outcomes, InsufficientStock)
    reserved = sum(r.quantity for r in Reservation.objects.filter(item=item, status=ReservationStatus.OPEN))
    sold = Movement.objects.filter(item=item, kind=MovementKind.ISSUE).count()
    assert reserved + sold <= 12
    for level in StockLevel.objects.filter(item=item, location__kind=LocationKind.INTERNAL):
        assert 0 <= level.reserved <= level.on_hand
    assert sum(level.on_hand for level in StockLevel.objects.filter(item=item, location__in=[a, b])) == 12 - sold
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_a_reservation_racing_a_sale_for_the_last_units_is_refused_not_crashed():
    """Two units at one bin; a reservation of both and a sale of one start together. Whoever
    comes second must get InsufficientStock (a refusal the clerk can read), never a database
    error from the CHECK constraint behind it."""
    actor = _actor()
    warehouse, (shelf,) = _warehouse("RSV2", "A-01")
    item = _item("RSV-LAST")
    for round_ in range(10):
        stock_receive(item=item, location=shelf, quantity=Decimal(2), unit_cost=Decimal(1), actor=actor)
        outcomes = _race(
            [
                lambda: reservation_create(item=item, warehouse=warehouse, quantity=Decimal(2), actor=actor),
                lambda: stock_issue(item=item, quantity=Decimal(1), location=shelf, actor=actor),
            ]
        )
        _assert_only(outcomes, InsufficientStock)
        level = StockLevel.objects.get(item=item, location=shelf)
        assert 0 <= level.reserved <= level.on_hand, f"round {round_}"
        _assert_books_balance()
        # Clear the bin for the next round: release whatever was reserved, sell what is left.
        for reservation in Reservation.objects.filter(item=item, status=ReservationStatus.OPEN):
            reservation_release(reservation=reservation, actor=actor)
        left = _on_hand(item, shelf)
        if left:
            stock_issue(item=item, quantity=left, location=shelf, actor=actor)


# --- Documents locked first ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_reservation_consumed_by_eight_workers_at_once_ships_once():
    actor = _actor()
    warehouse, (a, b) = _warehouse("CONS1", "A-01", "B-01")
    item = _item("CONS-RACE", method=ValuationMethod.FIFO)
    stock_receive(item=item, location=a, quantity=Decimal(3), unit_cost=Decimal(2), actor=actor)
    stock_receive(item=item, location=b, quantity=Decimal(3), unit_cost=Decimal(3), actor=actor)
    reservation = reservation_create(item=item, warehouse=warehouse, quantity=Decimal(5), actor=actor)

    outcomes = _race([lambda: reservation_consume(reservation=reservation, actor=actor)] * 8)

    _assert_only(outcomes, InvalidMovement)  # the later ones find the reservation consumed
    assert sum(status == "ok" for status, _ in outcomes) == 1
    reservation.refresh_from_db()
    assert (reservation.status, reservation.consumed) == (ReservationStatus.CONSUMED, 5)
    assert sum(m.quantity for m in Movement.objects.filter(item=item, kind=MovementKind.ISSUE)) == 5
    assert StockLevel.objects.filter(item=item, location__in=[a, b], reserved__gt=0).count() == 0
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_one_movement_reversed_by_eight_workers_at_once_is_reversed_once():
    actor = _actor()
    _, (shelf,) = _warehouse("REV1", "A-01")
    item = _item("REV-RACE")
    receipt = stock_receive(item=item, location=shelf, quantity=Decimal(4), unit_cost=Decimal(2), actor=actor)

    outcomes = _race([lambda: movement_reverse(movement=receipt, actor=actor, reason="typo")] * 8)

    _assert_only(outcomes, AlreadyReversed)
    assert sum(status == "ok" for status, _ in outcomes) == 1
    assert Movement.objects.filter(reverses=receipt).count() == 1
    assert _on_hand(item, shelf) == 0
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_one_reversal_retried_by_eight_workers_at_once_answers_each_with_that_reversal():
    """Eight retries of one request (one idempotency key) at once: the first locks the movement
    and reverses it; the others wait on that lock, find it reversed, and answer with the first
    reversal instead of refusing (rule 6: a retry counts once and gets the first result)."""
    actor = _actor()
    _, (shelf,) = _warehouse("REV2", "A-01")
    item = _item("REV-RETRY")
    receipt = stock_receive(item=item, location=shelf, quantity=Decimal(4), unit_cost=Decimal(2), actor=actor)

    outcomes = _race(
        [lambda: movement_reverse(movement=receipt, actor=actor, reason="typo", idempotency_key="rev-retry")] * 8
    )

    _assert_only(outcomes)  # no refusal at all
    (reversal,) = Movement.objects.filter(reverses=receipt)
    assert [value.pk for _, value in outcomes] == [reversal.pk] * 8  # type: ignore[attr-defined]
    assert reversal.idempotency_key == "rev-retry"
    assert _on_hand(item, shelf) == 0  # 4 received, 4 taken back once
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_one_shipment_arriving_by_eight_workers_at_once_arrives_once():
    """Eight clerks receive all of one shipment at once: the shipment row is locked first, so
    one arrival takes the 4 in transit and the others find nothing left."""
    actor = _actor()
    _, (here,) = _warehouse("SHIP1", "A-01")
    there, (dock,) = _warehouse("SHIP2", "B-01")
    item = _item("SHIP-RACE")
    stock_receive(item=item, location=here, quantity=Decimal(4), unit_cost=Decimal(2), actor=actor)
    shipment = transfer_ship(item=item, quantity=Decimal(4), source=here, to_warehouse=there, actor=actor)

    outcomes = _race([lambda: transfer_arrive(shipment=shipment, destination=dock, actor=actor)] * 8)

    _assert_only(outcomes, InvalidMovement)
    assert sum(status == "ok" for status, _ in outcomes) == 1
    for exc in _errors(outcomes):
        assert "has 0 still in transit" in str(exc)
    assert _on_hand(item, dock) == 4  # all 4 arrived, once
    assert Movement.objects.filter(reference_type="stock.shipment-arrival", reference_id=str(shipment.pk)).count() == 1
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_more_fefo_pickers_than_retries_all_sell_while_stock_lasts():
    """32 single units, each in its own (lot, bin), and 32 clerks selling one by FEFO at once.
    Every plan names the same first level, so each round has one winner; a bounded number of
    re-plans (``FEFO_RETRIES``) must not turn "someone took that unit" into "out of stock"
    while units are still on the shelves."""
    actor = _actor()
    warehouse, bins = _warehouse("FEFO3", "A-01", "A-02")
    item = _item("FEFO-MANY", tracking="lot")
    today = timezone.localdate()
    for n in range(16):
        lot = lot_get_or_create(item=item, code=f"M{n:02}", expiry_date=today + timedelta(days=10 + n))
        for shelf in bins:
            stock_receive(item=item, location=shelf, quantity=Decimal(1), unit_cost=Decimal(1), lot=lot, actor=actor)

    outcomes = _race([lambda: stock_issue(item=item, quantity=Decimal(1), warehouse=warehouse, actor=actor)] * 32)

    _assert_only(outcomes, InsufficientStock)
    assert sum(status == "ok" for status, _ in outcomes) == 32, [str(e) for e in _errors(outcomes)][:3]
    assert all(level.on_hand == 0 for level in StockLevel.objects.filter(item=item, location__in=bins))
    _assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_consuming_a_reservation_leaves_the_items_row_unlocked():
    """A consume locks its reservation's row, not the item's. The soak of 2026-12-05
    (bench/load.py) met the deadlock the item's lock made: a consume held the item's row
    FOR UPDATE and waited for a level that a reservation being created held, whose COMMIT
    checked its foreign key to the item (FOR KEY SHARE) and waited for the consume."""
    actor = _actor()
    warehouse, (shelf,) = _warehouse("RACE9", "A-01")
    item = _item("RACE-KEY-SHARE")
    stock_receive(item=item, location=shelf, quantity=Decimal(5), unit_cost=Decimal(1), actor=actor)
    reservation = reservation_create(item=item, warehouse=warehouse, quantity=Decimal(2), actor=actor)
    probe: dict[str, object] = {}

    def key_share() -> None:
        """The foreign-key check of another transaction's COMMIT, refused at once if locked."""
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM catalog_item WHERE id = %s FOR KEY SHARE NOWAIT", [item.pk])
                probe["row"] = cursor.fetchone()
        except BaseException as exc:  # reported to the test thread
            probe["error"] = exc
        finally:
            connection.close()

    with transaction.atomic():  # the consume's locks are held until this commits
        reservation_consume(reservation=reservation, actor=actor)
        other = threading.Thread(target=key_share, daemon=True)
        other.start()
        other.join(timeout=JOIN_TIMEOUT)
    assert probe == {"row": (1,)}
    assert _on_hand(item, shelf) == Decimal(3)  # 5 received - 2 consumed
    _assert_books_balance()

"""Large inbound batches are posted as sets (``stock.services.bulk``) and write exactly what the
line-by-line reference path (``posting._post``) writes.

On PostgreSQL a batch of ``SET_MIN_LINES`` or more lines that all bring stock in from a supplier,
a customer or the loss/gain location goes through ``bulk._post_set``; anything else, and any
batch touching a negative valuation pool or an open negative FIFO layer, is declined and posted
by ``_post``. The parity tests post the same seeded random batches both ways, one after the
other in the same transaction (the first rolled back to a savepoint), and compare whole movement
rows, levels, valuations, FIFO layers and their consumptions.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import uuid
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog.models import Item, Location, LocationKind, ValuationMethod
from catalog.permissions import WarehouseAction, WarehousePermissionDenied
from common.roles import WAREHOUSE_CLERK
from stock.models import (
    QTY_STEP,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Lot,
    Movement,
    MovementKind,
    StockLevel,
)
from stock.reconciliation import reconcile
from stock.services import (
    InsufficientStock,
    MovementLine,
    QuantityFinerThanUnit,
    StockRequest,
    bulk,
    movement_post,
    posting,
    purchase_receipts_post,
    reservation_create,
    stock_post_batch,
)
from tests.stock import test_concurrency as concurrency
from tests.stock.factories import (
    ItemFactory,
    LocationFactory,
    LotFactory,
    UnitFactory,
    UserFactory,
    WarehouseFactory,
    layers_of,
    level_of,
    valuation_of,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="batches are posted as sets on PostgreSQL only"),
]

WHEN = timezone.now().replace(microsecond=0) - timedelta(hours=1)
INBOUND = {
    "receipt": (MovementKind.RECEIPT, LocationKind.SUPPLIER),
    "gain": (MovementKind.ADJUSTMENT, LocationKind.INVENTORY_ADJUSTMENT),
    "customer_return": (MovementKind.CUSTOMER_RETURN, LocationKind.CUSTOMER),
}


@pytest.fixture
def paths(monkeypatch) -> dict[str, int]:
    """Counts how often each path posted a batch: ``set`` (``bulk._post_set`` wrote it) and
    ``reference`` (``posting._post`` was asked to)."""
    calls = {"set": 0, "reference": 0}
    post_set, post = posting._post_set, posting._post

    def counted_set(*args, **kwargs):
        try:
            return post_set(*args, **kwargs)
        except bulk._Declined:
            raise
        except Exception:  # a refusal (or a used key): the set path answered, not the reference
            calls["set"] += 1
            raise
        finally:
            calls["set"] += sys.exc_info()[0] is None

    def counted(*args, **kwargs):
        calls["reference"] += not kwargs["create_missing"]  # its second try (missing rows) is the same posting
        return post(*args, **kwargs)

    monkeypatch.setattr(posting, "_post_set", counted_set)
    monkeypatch.setattr(posting, "_post", counted)
    return calls


def _receipt(item: Item, location: Location, quantity: str, unit_cost: str | None, supplier: Location) -> MovementLine:
    return MovementLine(
        item=item,
        quantity=Decimal(quantity),
        source=supplier,
        destination=location,
        kind=MovementKind.RECEIPT,
        unit_cost=None if unit_cost is None else Decimal(unit_cost),
    )


def _fillers(count: int, location: Location, supplier: Location) -> list[MovementLine]:
    """``count`` receipts of 1 at 0.50 of new items, to make a batch long enough."""
    return [_receipt(ItemFactory(), location, "1", "0.5", supplier) for _ in range(count)]


# --- Behaviour, worked out by hand -----------------------------------------------------------


def test_a_large_inbound_batch_is_posted_as_a_set_at_the_reference_costs(
    actor, item, fifo_item, bin_a, bin_b, bin_c, warehouse, other_warehouse, virtual, paths
):
    supplier, gains = virtual(LocationKind.SUPPLIER), virtual(LocationKind.INVENTORY_ADJUSTMENT)
    earlier = WHEN - timedelta(hours=1)  # FIFO layers are ordered by when they were received
    movement_post(lines=_receipt(item, bin_a, "10", "2", supplier), actor=actor, occurred_at=earlier)  # 10 for 20.00
    movement_post(lines=_receipt(fifo_item, bin_a, "4", "1.5", supplier), actor=actor, occurred_at=earlier)  # 4 @ 1.50
    paths.update(set=0, reference=0)
    lines = [
        _receipt(item, bin_b, "10", "4", supplier),  # 10 x 4.00 = 40.00; WH1 20 for 60.00, average 3.00
        MovementLine(  # a gain without cost takes the average: 5 x 3.00 = 15.00; WH1 25 for 75.00
            item=item, quantity=Decimal(5), source=gains, destination=bin_a, kind=MovementKind.ADJUSTMENT
        ),
        _receipt(fifo_item, bin_a, "6", "2.25", supplier),  # 6 x 2.25 = 13.50, a new layer; 10 for 19.50
        _receipt(item, bin_c, "3", "1", supplier),  # WH2, no level or valuation yet: 3 x 1.00 = 3.00
        *_fillers(16, bin_b, supplier),  # 16 x (1 x 0.50) = 16 x 0.50
    ]

    movements = movement_post(lines=lines, actor=actor, idempotency_key="big-receipt", occurred_at=WHEN)

    assert paths == {"set": 1, "reference": 0}
    stored = list(Movement.objects.filter(batch=movements[0].batch).order_by("batch_line"))
    assert [m.pk for m in stored] == [m.pk for m in movements]
    assert [m.batch_line for m in stored] == list(range(1, 21))
    assert [m.total_cost for m in stored] == [Decimal("40"), Decimal("15"), Decimal("13.5"), Decimal("3")] + [
        Decimal("0.5")
    ] * 16
    assert [m.unit_cost for m in stored[:4]] == [Decimal("4"), Decimal("3"), Decimal("2.25"), Decimal("1")]
    assert [m.idempotency_key for m in stored] == ["big-receipt"] + [None] * 19
    assert {(m.actor_id, m.occurred_at) for m in stored} == {(actor.pk, WHEN)}
    assert level_of(item, bin_a) == (Decimal(15), 0)  # 10 + 5
    assert level_of(item, bin_b) == (Decimal(10), 0)
    assert level_of(item, bin_c) == (Decimal(3), 0)
    assert level_of(item, supplier) == (Decimal(-23), 0)  # 10 + 10 + 3 received in all
    assert level_of(item, gains) == (Decimal(-5), 0)
    assert valuation_of(item, warehouse) == (Decimal(25), Decimal(75))  # 20 + 40 + 15
    assert ItemValuation.objects.get(item=item, warehouse=warehouse).last_unit_cost == Decimal(3)
    assert valuation_of(item, other_warehouse) == (Decimal(3), Decimal(3))
    assert valuation_of(fifo_item, warehouse) == (Decimal(10), Decimal("19.5"))  # 6.00 + 13.50
    assert layers_of(fifo_item, warehouse) == [
        (Decimal("1.5"), Decimal(4), Decimal(6)),
        (Decimal("2.25"), Decimal(6), Decimal("13.5")),
    ]
    layer = CostLayer.objects.get(item=fifo_item, movement=stored[2])
    assert (layer.received_at, layer.quantity) == (WHEN, Decimal(6))
    assert [str(d) for d in reconcile()] == []


def test_a_set_takes_the_same_number_of_statements_for_20_and_for_60_lines(actor, bin_a, virtual, paths):
    supplier = virtual(LocationKind.SUPPLIER)
    counts = []
    for size in (20, 60):
        lines = [_receipt(ItemFactory(sku=f"S{size}-{n:02d}"), bin_a, "2", "1.25", supplier) for n in range(size)]
        with CaptureQueriesContext(connection) as captured:
            movement_post(lines=lines, actor=actor)
        counts.append(len(captured))
    assert paths == {"set": 2, "reference": 0}
    assert counts[0] == counts[1]
    assert Movement.objects.count() == 80
    assert StockLevel.objects.get(item__sku="S60-59", location=bin_a).on_hand == 2


def test_a_retried_batch_counts_once(actor, bin_a, virtual, paths):
    lines = _fillers(25, bin_a, virtual(LocationKind.SUPPLIER))
    first = movement_post(lines=lines, actor=actor, idempotency_key="retry-me")
    again = movement_post(lines=lines, actor=actor, idempotency_key="retry-me")
    assert [m.pk for m in again] == [m.pk for m in first]
    assert Movement.objects.count() == 25
    assert level_of(lines[0].item, bin_a) == (Decimal(1), 0)  # received once
    assert [str(d) for d in reconcile()] == []


def test_twenty_receipts_of_new_lots_through_stock_post_batch_are_posted_as_a_set(
    actor, lot_item, bin_a, virtual, paths
):
    requests = [
        StockRequest(
            kind=MovementKind.RECEIPT,
            item=lot_item,
            quantity=Decimal(2),
            destination=bin_a,
            lot=f"L{n:02d}",  # 20 new lots, created on the receipt's date
            unit_cost=Decimal("0.75"),
        )
        for n in range(20)
    ]
    movements = stock_post_batch(requests=requests, actor=actor, idempotency_key="lots", occurred_at=WHEN)
    assert paths == {"set": 1, "reference": 0}
    assert [m.lot.code for m in movements] == [f"L{n:02d}" for n in range(20)]
    assert Lot.objects.get(item=lot_item, code="L07").received_on == WHEN.date()
    assert level_of(lot_item, bin_a, Lot.objects.get(item=lot_item, code="L07")) == (Decimal(2), 0)
    assert valuation_of(lot_item, bin_a.warehouse) == (Decimal(40), Decimal(30))  # 20 x 2 = 40, x 0.75 = 30.00


def test_purchase_receipts_need_the_receive_permission_and_are_posted_as_a_set(bin_a, virtual, snapshot, paths):
    purchaser = UserFactory(username="set-purchaser")
    lines = _fillers(20, bin_a, virtual(LocationKind.SUPPLIER))
    before = snapshot()
    with pytest.raises(WarehousePermissionDenied):  # no right to receive purchase orders in WH1 yet
        purchase_receipts_post(lines=lines, actor=purchaser)
    assert snapshot() == before
    assign_perm(f"catalog.{WarehouseAction.RECEIVE_PURCHASES}", purchaser, bin_a.warehouse)
    purchaser = UserFactory(username="set-purchaser")  # afresh: a user object caches its answers

    movements = purchase_receipts_post(lines=lines, actor=purchaser, idempotency_key="po-1")

    assert paths == {"set": 1, "reference": 0}
    assert {m.actor_id for m in movements} == {purchaser.pk}
    assert valuation_of(lines[5].item, bin_a.warehouse) == (Decimal(1), Decimal("0.5"))


# --- What the set path declines or never sees --------------------------------------------------


def test_a_negative_pool_is_declined_and_posted_by_the_reference_path(actor, item, bin_a, virtual, paths):
    negative = LocationFactory(warehouse=WarehouseFactory(code="NEG", allow_negative_stock=True), code="N-01")
    supplier, customer = virtual(LocationKind.SUPPLIER), virtual(LocationKind.CUSTOMER)
    movement_post(lines=_receipt(item, negative, "1", "4", supplier), actor=actor)  # NEG: 1 for 4.00
    movement_post(  # sold 3 of the 1: NEG at -2, priced at the last cost 4.00 beyond what was there
        lines=MovementLine(item=item, quantity=Decimal(3), source=negative, destination=customer, kind="issue"),
        actor=actor,
    )
    assert valuation_of(item, negative.warehouse) == (Decimal(-2), Decimal(-8))  # 4.00 - 3 x 4.00
    paths.update(set=0, reference=0)
    lines = [_receipt(item, negative, "5", "6", supplier), *_fillers(19, bin_a, supplier)]

    movements = movement_post(lines=lines, actor=actor)

    assert paths == {"set": 0, "reference": 1}
    assert len(movements) == 20
    assert level_of(item, negative) == (Decimal(3), 0)  # -2 + 5
    assert valuation_of(item, negative.warehouse)[0] == Decimal(3)  # the value is costing's rule
    assert [str(d) for d in reconcile()] == []


@pytest.mark.parametrize("odd_one", ["transfer", "fifo_sale", "reserved_sale"])
def test_a_batch_with_one_line_the_set_path_does_not_handle_takes_the_reference_path(
    odd_one, actor, item, fifo_item, bin_a, bin_b, virtual, paths
):
    supplier, customer = virtual(LocationKind.SUPPLIER), virtual(LocationKind.CUSTOMER)
    subject = fifo_item if odd_one == "fifo_sale" else item
    movement_post(lines=_receipt(subject, bin_a, "5", "1", supplier), actor=actor)
    if odd_one == "reserved_sale":
        reservation_create(item=item, quantity=Decimal(2), warehouse=bin_a.warehouse, location=bin_a, actor=actor)
    paths.update(set=0, reference=0)
    line = MovementLine(
        item=subject,
        quantity=Decimal(2),
        source=bin_a,
        destination=bin_b if odd_one == "transfer" else customer,
        kind="transfer" if odd_one == "transfer" else "issue",
        reserved=Decimal(2) if odd_one == "reserved_sale" else Decimal(0),
    )
    movement_post(lines=[*_fillers(20, bin_a, supplier), line], actor=actor)
    assert paths == {"set": 0, "reference": 1}
    assert level_of(subject, bin_a) == (Decimal(3), 0)  # 5 - 2, and the reservation of 2 consumed


def test_sales_in_a_set_take_the_average_and_a_short_one_refuses_the_whole_batch(
    actor, item, bin_a, bin_b, warehouse, virtual, snapshot, paths
):
    supplier, customer = virtual(LocationKind.SUPPLIER), virtual(LocationKind.CUSTOMER)
    movement_post(lines=_receipt(item, bin_a, "3", "1", supplier), actor=actor)  # 3 for 3.00
    movement_post(lines=_receipt(item, bin_b, "3", "2", supplier), actor=actor)  # 6 for 9.00: average 1.50
    paths.update(set=0, reference=0)

    def sale(quantity: str, where: Location) -> MovementLine:
        return MovementLine(item=item, quantity=Decimal(quantity), source=where, destination=customer, kind="issue")

    fillers = _fillers(18, bin_b, supplier)
    movements = movement_post(lines=[sale("2", bin_a), *fillers, sale("1", bin_b)], actor=actor)

    assert paths == {"set": 1, "reference": 0}
    assert movements[0].total_cost == Decimal(3)  # 2 x 1.50; then 4 for 6.00
    assert movements[-1].total_cost == Decimal("1.5")  # 1 x 1.50; then 3 for 4.50
    assert valuation_of(item, warehouse) == (Decimal(3), Decimal("4.5"))
    assert level_of(item, bin_a) == (Decimal(1), 0)
    assert level_of(item, bin_b) == (Decimal(2), 0)

    before = snapshot()
    with pytest.raises(InsufficientStock) as refused:  # bin A has 1; 2 asked
        movement_post(lines=[*_fillers(19, bin_b, supplier), sale("2", bin_a)], actor=actor)
    assert (refused.value.available, refused.value.asked) == (Decimal(1), Decimal(2))
    assert snapshot() == before

    reservation_create(item=item, quantity=Decimal(1), warehouse=warehouse, location=bin_b, actor=actor)
    before = snapshot()
    with pytest.raises(InsufficientStock) as refused:  # bin B has 2, 1 of them reserved: 1 free; 2 asked
        movement_post(lines=[*_fillers(19, bin_a, supplier), sale("2", bin_b)], actor=actor)
    assert (refused.value.available, refused.value.asked) == (Decimal(1), Decimal(2))
    assert snapshot() == before
    assert paths == {"set": 3, "reference": 0}  # the sales and both refusals: the set path, nothing declined
    assert [str(d) for d in reconcile()] == []


def test_a_batch_shorter_than_the_threshold_takes_the_reference_path(actor, bin_a, virtual, paths):
    movement_post(lines=_fillers(bulk.SET_MIN_LINES - 1, bin_a, virtual(LocationKind.SUPPLIER)), actor=actor)
    assert paths == {"set": 0, "reference": 1}


def test_a_line_finer_than_its_unit_refuses_the_whole_batch(actor, bin_a, virtual, snapshot, paths):
    supplier = virtual(LocationKind.SUPPLIER)
    lines = _fillers(24, bin_a, supplier)
    lines.append(_receipt(ItemFactory(sku="HALF"), bin_a, "0.5", "1", supplier))  # "each": whole units only
    before = snapshot()
    with pytest.raises(QuantityFinerThanUnit):
        movement_post(lines=lines, actor=actor)
    assert snapshot() == before
    assert paths == {"set": 0, "reference": 0}


def test_a_clerk_without_rights_in_one_warehouse_posts_nothing(bin_a, bin_c, virtual, snapshot, paths):
    clerk = UserFactory(username="set-clerk")
    clerk.groups.add(Group.objects.get_or_create(name=WAREHOUSE_CLERK)[0])
    assign_perm(f"catalog.{WarehouseAction.POST}", clerk, bin_a.warehouse)  # WH1 only, not WH2
    supplier = virtual(LocationKind.SUPPLIER)
    lines = [*_fillers(24, bin_a, supplier), _receipt(ItemFactory(sku="THERE"), bin_c, "1", "1", supplier)]
    before = snapshot()
    with pytest.raises(WarehousePermissionDenied):
        movement_post(lines=lines, actor=clerk)
    assert snapshot() == before
    assert paths == {"set": 0, "reference": 0}


# --- Parity with the reference path --------------------------------------------------------------


QUANTITIES = ["1", "2", "0.5", "3.3333", "0.0001", "7", "12.25"]
TAKEN = ["0.0001", "0.5", "1", "2", "3.3333"]
OUTBOUND = {
    "issue": (MovementKind.ISSUE, LocationKind.CUSTOMER),
    "scrap": (MovementKind.SCRAP, LocationKind.SCRAP),
    "loss": (MovementKind.ADJUSTMENT, LocationKind.INVENTORY_ADJUSTMENT),
    "supplier_return": (MovementKind.SUPPLIER_RETURN, LocationKind.SUPPLIER),
}
UNIT_COSTS = [None, "0", "0.0001", "1.2345", "3.3333", "10"]
TOTAL_COSTS = [None, None, "7.1234", "0.0003"]
NOTES = ["", "counted twice", "Ünïcode ✓"]


@pytest.fixture
def world(virtual) -> dict[str, object]:
    """Two warehouses and one that allows negative stock; moving-average and FIFO items, with
    and without lots, in a unit of 4 places; two lots per tracked item."""
    first, second = WarehouseFactory(code="PS1"), WarehouseFactory(code="PS2")
    negative = WarehouseFactory(code="PSN", allow_negative_stock=True)
    bins = [
        LocationFactory(warehouse=first, code="PA"),
        LocationFactory(warehouse=first, code="PB"),
        LocationFactory(warehouse=second, code="PC"),
        LocationFactory(warehouse=negative, code="PN"),
    ]
    carat = UnitFactory(code="ct", name="Carat", dimension="mass", ratio=None, decimal_places=4)
    items = [
        ItemFactory(sku=f"PAR-{n}", base_unit=carat, standard_cost=Decimal("2.5"), fifo=n % 2 == 1, lot_tracked=n >= 4)
        for n in range(6)
    ]
    lots = {item.pk: [LotFactory(item=item), LotFactory(item=item)] for item in items if item.tracking != "none"}
    return {"bins": bins, "items": items, "lots": lots, "virtual": virtual}


def _history(rng: random.Random, world: dict, negative: bool, stocked: bool) -> None:
    """Random earlier postings (reference path): receipts and sales leaving some levels and
    valuations in place and others missing; with ``stocked``, 50 of every item and lot in the
    first three bins first (so most batches' takes are covered); with ``negative``, a sale
    beyond stock in the warehouse that allows it (a negative pool, which the set path must
    decline)."""
    supplier, customer = world["virtual"](LocationKind.SUPPLIER), world["virtual"](LocationKind.CUSTOMER)
    if stocked:
        opening = [
            MovementLine(item=item, lot=lot, quantity=Decimal(50), source=supplier, destination=place, kind="receipt")
            for item in world["items"]
            for lot in world["lots"].get(item.pk, [None])
            for place in world["bins"][:3]
        ]
        with override_settings(STOCK_POSTING_SETS=False):
            movement_post(lines=opening, actor=None, occurred_at=WHEN)
    for _ in range(rng.randint(0, 8)):
        item = rng.choice(world["items"])
        lot = rng.choice(world["lots"][item.pk]) if item.pk in world["lots"] else None
        place = rng.choice(world["bins"][:3])
        quantity = Decimal(rng.choice(QUANTITIES))
        movement_post(
            lines=MovementLine(
                item=item,
                lot=lot,
                quantity=quantity,
                source=supplier,
                destination=place,
                kind="receipt",
                unit_cost=Decimal(rng.choice(UNIT_COSTS[1:])),
            ),
            actor=None,
            occurred_at=WHEN,
        )
        half = (quantity / 2).quantize(QTY_STEP, rounding=ROUND_DOWN)
        if rng.random() < 0.5 and half > 0:
            movement_post(
                lines=MovementLine(item=item, lot=lot, quantity=half, source=place, destination=customer, kind="issue"),
                actor=None,
                occurred_at=WHEN,
            )
    if negative:
        item = rng.choice(world["items"])
        lot = world["lots"][item.pk][0] if item.pk in world["lots"] else None
        movement_post(
            lines=MovementLine(
                item=item, lot=lot, quantity=Decimal(2), source=world["bins"][3], destination=customer, kind="issue"
            ),
            actor=None,
            occurred_at=WHEN,
        )


def _batch(rng: random.Random, world: dict, *, fifo_out: bool) -> list[MovementLine]:
    """20 to 45 lines, about one in three taking stock out: of moving-average items from the
    first three bins, or with ``fifo_out`` of any item from any bin (FIFO takes and takes that
    may go negative: the set path declines such batches)."""
    lines = []
    for number in range(rng.randint(bulk.SET_MIN_LINES, 45)):
        operation = rng.choice(sorted(INBOUND) * 2 + sorted(OUTBOUND))
        inbound = operation in INBOUND
        kind, virtual_side = INBOUND[operation] if inbound else OUTBOUND[operation]
        takeable = [i for i in world["items"] if fifo_out or i.valuation_method == ValuationMethod.MOVING_AVERAGE]
        item = rng.choice(world["items"] if inbound else takeable)  # items repeat within the batch
        place = rng.choice(world["bins"] if inbound or fifo_out else world["bins"][:3])
        lines.append(
            MovementLine(
                item=item,
                lot=rng.choice(world["lots"][item.pk]) if item.pk in world["lots"] else None,
                quantity=Decimal(rng.choice(QUANTITIES if inbound else TAKEN)),
                source=world["virtual"](virtual_side) if inbound else place,
                destination=place if inbound else world["virtual"](virtual_side),
                kind=kind,
                unit_cost=None if not inbound or (cost := rng.choice(UNIT_COSTS)) is None else Decimal(cost),
                total_cost=(
                    None if operation != "receipt" or (total := rng.choice(TOTAL_COSTS)) is None else Decimal(total)
                ),
                reason_code="counted" if kind == MovementKind.ADJUSTMENT else "",
                note=rng.choice(NOTES),
                reference_type="test.sets",
                reference_id=operation,
                reference_line=str(number),
            )
        )
    return lines


MOVEMENT_COLUMNS = [f.attname for f in Movement._meta.concrete_fields if f.attname not in ("id", "batch", "posted_at")]


def _posted(lines: list[MovementLine], *, sets: bool) -> dict[str, object]:
    """Post ``lines`` as one batch and read back everything a posting writes, ids replaced by
    what they mean (ids of rows created in a rolled-back savepoint are not reused)."""
    try:
        with override_settings(STOCK_POSTING_SETS=sets):
            movements = movement_post(lines=lines, actor=None, idempotency_key="parity", occurred_at=WHEN)
        outcome: tuple = ("posted",)
    except InsufficientStock as refusal:
        movements, outcome = [], ("refused", refusal.message, refusal.available, refusal.asked)
    line_of = {m.pk: ("batch", m.batch_line) for m in movements}
    layers = list(
        CostLayer.objects.order_by("id").values_list(
            "id", "item_id", "warehouse_id", "movement_id", "received_at", "unit_cost", "quantity",
            "remaining_quantity", "remaining_value",
        )
    )  # fmt: skip
    position = {layer[0]: number for number, layer in enumerate(layers)}
    return {
        "outcome": outcome,
        "movements": list(Movement.objects.filter(pk__in=line_of).order_by("batch_line").values(*MOVEMENT_COLUMNS)),
        "returned": [(m.batch_line, m.unit_cost, m.total_cost) for m in movements],
        "levels": sorted(
            StockLevel.objects.values_list("item_id", "location_id", "lot_id", "on_hand", "reserved", "allow_negative"),
            key=lambda row: (row[0], row[1], row[2] or 0),
        ),
        "valuations": sorted(
            ItemValuation.objects.values_list("item_id", "warehouse_id", "quantity", "value", "last_unit_cost")
        ),
        "layers": [(*row[1:3], line_of.get(row[3], row[3]), *row[4:]) for row in layers],
        "consumptions": [
            (line_of.get(movement, movement), position[layer], quantity, value)
            for movement, layer, quantity, value in CostLayerConsumption.objects.order_by("id").values_list(
                "movement_id", "layer_id", "quantity", "value"
            )
        ],
        "lots": Lot.objects.count(),
        "reconcile": [str(d) for d in reconcile()],
    }


@pytest.mark.parametrize("seed", range(20))
def test_random_batches_post_the_same_rows_as_sets_and_line_by_line(seed, world, paths):
    rng = random.Random(seed)
    # seeds 0, 4, ...: stock in every bin, moving-average takes: posted as a set; 1, 5, ...: little
    # stock (refusals, or takes before receipts of the same pool, which the set path declines);
    # 2, 6, ...: FIFO takes too (declined); 3, 7, ...: a negative pool (declined)
    negative = seed % 4 == 3
    _history(rng, world, negative, stocked=seed % 2 == 0)
    lines = _batch(rng, world, fifo_out=seed % 4 == 2)
    if negative:  # make sure the batch touches it
        item = next(i for i in world["items"] if valuation_of(i, world["bins"][3].warehouse)[0] < 0)
        lot = world["lots"][item.pk][0] if item.pk in world["lots"] else None
        lines[0] = MovementLine(
            item=item,
            lot=lot,
            quantity=Decimal(1),
            source=world["virtual"](LocationKind.SUPPLIER),
            destination=world["bins"][3],
            kind="receipt",
        )
    paths.update(set=0, reference=0)

    savepoint = transaction.savepoint()
    as_sets = _posted(lines, sets=True)
    fifo_out = any(line.source.is_internal and line.item.valuation_method == ValuationMethod.FIFO for line in lines)
    if negative or fifo_out:
        assert paths == {"set": 0, "reference": 1}
    elif seed % 4 == 0:
        assert paths == {"set": 1, "reference": 0}
    else:
        assert paths["set"] + paths["reference"] == 1
    transaction.savepoint_rollback(savepoint)
    line_by_line = _posted(lines, sets=False)

    assert as_sets["reconcile"] == []
    for part in as_sets:
        assert as_sets[part] == line_by_line[part], part


# --- Concurrency ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_batches_racing_on_the_same_missing_levels_neither_deadlock_nor_lose_units():
    actor = concurrency._actor()
    _, (shelf, other) = concurrency._warehouse("SETRACE", "S-01", "S-02")
    items = [concurrency._item(f"SETRACE-{n:02d}") for n in range(30)]
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)

    def batch(order: list[Item], where: Location, quantity: int) -> list[Movement]:
        return movement_post(
            lines=[
                MovementLine(
                    item=item,
                    quantity=Decimal(quantity),
                    source=supplier,
                    destination=where,
                    kind=MovementKind.RECEIPT,
                    unit_cost=Decimal("1.5"),
                )
                for item in order
            ],
            actor=actor,
            idempotency_key=f"race-{uuid.uuid4()}",
        )

    def single(item: Item) -> list[Movement]:  # the one-line path creates the same missing rows
        return movement_post(lines=_one(item, shelf, supplier), actor=actor)

    workers = [
        lambda: batch(items, shelf, 1),  # every level and valuation missing: all race to create them
        lambda: batch(items[::-1], shelf, 2),  # the same rows named in the opposite order
        lambda: batch(items[10:] + items[:10], other, 3),
        lambda: single(items[15]),
    ]
    outcomes = concurrency._race(workers)

    concurrency._assert_only(outcomes)
    for n, item in enumerate(items):
        extra = 4 if n == 15 else 0  # the single receipt of 4
        assert concurrency._on_hand(item, shelf) == 1 + 2 + extra
        assert concurrency._on_hand(item, other) == 3
        valuation = ItemValuation.objects.get(item=item)
        assert (valuation.quantity, valuation.value) == (6 + extra, Decimal("1.5") * (6 + extra))
    assert StockLevel.objects.filter(item__in=items).count() == 30 * 3  # shelf, other, supplier: no twins
    assert Movement.objects.count() == 91
    concurrency._assert_books_balance()


def _one(item: Item, where: Location, supplier: Location) -> MovementLine:
    return MovementLine(
        item=item, quantity=Decimal(4), source=supplier, destination=where, kind="receipt", unit_cost=Decimal("1.5")
    )


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_twice_at_once_posts_once():
    actor = concurrency._actor()
    _, (shelf,) = concurrency._warehouse("SETTWICE", "T-01")
    items = [concurrency._item(f"SETTWICE-{n:02d}") for n in range(25)]
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)
    lines = [_one(item, shelf, supplier) for item in items]

    outcomes = concurrency._race([lambda: movement_post(lines=lines, actor=actor, idempotency_key="twice")] * 2)

    concurrency._assert_only(outcomes)
    (first, second) = [result for _, result in outcomes]
    assert [m.pk for m in first] == [m.pk for m in second]
    assert Movement.objects.count() == 25
    assert all(concurrency._on_hand(item, shelf) == 4 for item in items)
    concurrency._assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_sale_batches_racing_for_the_same_stock_never_sell_a_unit_twice():
    actor = concurrency._actor()
    _, (shelf,) = concurrency._warehouse("SETSELL", "U-01")
    items = [concurrency._item(f"SETSELL-{n:02d}") for n in range(25)]
    supplier, customer = (
        Location.objects.virtual(LocationKind.SUPPLIER),
        Location.objects.virtual(LocationKind.CUSTOMER),
    )
    movement_post(lines=[_one(item, shelf, supplier) for item in items], actor=actor)  # 4 of each at 1.50

    def sell(order: list[Item]) -> list[Movement]:
        return movement_post(
            lines=[
                MovementLine(item=item, quantity=Decimal(1), source=shelf, destination=customer, kind="issue")
                for item in order
            ],
            actor=actor,
        )

    # five batches each want 1 of every item, in different orders; 4 of each exist: one is refused
    outcomes = concurrency._race([lambda o=items[k * 5 :] + items[: k * 5]: sell(o) for k in range(5)])

    concurrency._assert_only(outcomes, InsufficientStock)
    assert [status for status, _ in outcomes].count("ok") == 4
    for item in items:
        assert concurrency._on_hand(item, shelf) == 0
        assert valuation_of(item, shelf.warehouse) == (0, 0)  # 4 x 1.50 = 6.00 in, 4 sales of 1.50 out
    assert sum(m.total_cost for m in Movement.objects.filter(kind="issue")) == Decimal(150)  # 25 x 6.00
    concurrency._assert_books_balance()


@pytest.mark.django_db(transaction=True)
def test_a_set_and_a_short_batch_creating_the_same_valuation_do_not_deadlock(monkeypatch):
    """The set path inserts the missing valuation of (item, warehouse) before it locks levels;
    a short batch of the same item meanwhile must not lock a level the set needs and then wait
    for that valuation row: ``_post_movements`` creates every missing row before ``_post`` locks."""
    actor = concurrency._actor()
    _, (first, third) = concurrency._warehouse("SETDL", "D-01", "D-03")
    _, (elsewhere,) = concurrency._warehouse("SETDL2", "E-01")
    item = concurrency._item("SETDL-X")
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)
    movement_post(lines=_one(item, elsewhere, supplier), actor=actor)  # the supplier level exists; SETDL has no value
    fillers = [_one(concurrency._item(f"SETDL-F{n:02d}"), first, supplier) for n in range(19)]
    lock = bulk._lock

    def slow_lock(*args, **kwargs):  # the set has inserted its rows; give the short batch time to run into them
        if threading.current_thread().name == "worker-0":
            time.sleep(2.5)
        return lock(*args, **kwargs)

    monkeypatch.setattr(bulk, "_lock", slow_lock)

    def short_batch() -> list[Movement]:
        time.sleep(0.8)  # after the set inserted the valuation row, before it locks any level
        return movement_post(lines=[_one(item, third, supplier), _one(item, elsewhere, supplier)], actor=actor)

    outcomes = concurrency._race(
        [lambda: movement_post(lines=[_one(item, first, supplier), *fillers], actor=actor), short_batch]
    )

    concurrency._assert_only(outcomes)  # no "deadlock detected"
    assert concurrency._on_hand(item, first) == 4
    assert concurrency._on_hand(item, third) == 4
    assert valuation_of(item, first.warehouse) == (Decimal(8), Decimal(12))  # 2 x 4 at 1.50
    concurrency._assert_books_balance()


@pytest.mark.parametrize("lines", [1, 2])  # one line: the database function on PostgreSQL; two: the Python path
def test_a_refused_batch_inside_the_callers_transaction_writes_nothing_and_leaves_it_usable(
    actor, item, bin_a, virtual, snapshot, lines
):
    """``stock_post_batch`` has no savepoint of its own: the posting's is enough. A refusal
    rolls back the whole batch, and the caller's transaction goes on and commits."""
    with transaction.atomic():
        stock_post_batch(
            requests=[StockRequest(kind=MovementKind.RECEIPT, item=item, quantity=Decimal(3), destination=bin_a)],
            actor=actor,
        )
        before = snapshot()
        sale = StockRequest(kind=MovementKind.ISSUE, item=item, quantity=Decimal(4) / lines, source=bin_a)
        with pytest.raises(InsufficientStock) as refused:
            stock_post_batch(requests=[sale] * lines, actor=actor)  # 4, or 2 + 2, of the 3 in the bin
        assert (refused.value.asked, refused.value.available) == (Decimal(4), Decimal(3))
        assert snapshot() == before
        stock_post_batch(
            requests=[StockRequest(kind=MovementKind.ISSUE, item=item, quantity=Decimal(1), source=bin_a)], actor=actor
        )
    assert level_of(item, bin_a) == (Decimal(2), 0)  # 3 received - 1 sold

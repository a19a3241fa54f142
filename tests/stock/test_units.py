"""Quantities that respect their unit (issue 12, finding 4): every posting path refuses a
quantity finer than the item's base unit allows, with the message that names it, and writes
nothing; old stock finer than its unit is never split further and can be reversed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.models import UnitOfMeasure
from catalog.units import QuantityFinerThanUnit as CatalogQuantityFinerThanUnit
from catalog.units import check_quantity, format_quantity
from stock.models import MovementKind, Reservation
from stock.services import (
    InvalidMovement,
    QuantityFinerThanUnit,
    StockRequest,
    adjustment_submit,
    movement_reverse,
    reservation_consume,
    reservation_create,
    reservation_release,
    stock_adjust,
    stock_customer_return,
    stock_issue,
    stock_post_batch,
    stock_receive,
    stock_scrap,
    stock_supplier_return,
    stock_transfer,
    transfer_arrive,
    transfer_ship,
)
from tests.stock.factories import ItemFactory, UnitFactory, level_of

D = Decimal
HALF_EACH = "WIDGET is counted in whole units (each); 2.5 is not allowed."


def receive(item, location, quantity, actor=None):
    return stock_receive(item=item, location=location, quantity=D(quantity), unit_cost=D(1), actor=actor)


def with_places(unit: UnitOfMeasure, places: int) -> None:
    """Set a unit's places behind the model's back, as old data was before issue 12."""
    UnitOfMeasure.objects.filter(pk=unit.pk).update(decimal_places=places)
    unit.decimal_places = places


@pytest.fixture
def old_half(item, bin_a):
    """2.5 WIDGET in A-01, posted while ``each`` still allowed fractions (old data)."""
    with_places(item.base_unit, 1)
    movement = receive(item, bin_a, "2.5")
    with_places(item.base_unit, 0)
    return movement


def test_a_receipt_of_half_an_each_is_refused_naming_item_unit_and_quantity(actor, bin_a, item, snapshot):
    before = snapshot()

    with pytest.raises(QuantityFinerThanUnit) as refused:
        receive(item, bin_a, "2.5", actor)

    assert str(refused.value) == HALF_EACH
    assert isinstance(refused.value, InvalidMovement)  # doors that catch InvalidMovement still do
    assert refused.value.code == "quantity_finer_than_unit"
    assert refused.value.details == {"sku": "WIDGET", "unit": "each", "decimal_places": 0, "quantity": D("2.5")}
    assert snapshot() == before


def test_two_places_allow_centimetres_and_refuse_millimetres(actor, bin_a, snapshot):
    cord = ItemFactory(sku="CORD", base_unit=UnitFactory(code="m", name="Metre", dimension="length", decimal_places=2))
    cord.base_unit.refresh_from_db()
    assert cord.base_unit.decimal_places == 2  # set by the migration (or the factory after a flush)
    before = snapshot()

    with pytest.raises(QuantityFinerThanUnit) as refused:
        receive(cord, bin_a, "1.255", actor)

    assert str(refused.value) == "CORD is counted to 2 decimal places (m); 1.255 is not allowed."
    assert snapshot() == before
    receive(cord, bin_a, "1.25", actor)
    assert level_of(cord, bin_a)[0] == D("1.25")


def test_trailing_zeros_do_not_count_as_places(actor, bin_a, item):
    receive(item, bin_a, "3.0000", actor)  # 3 each, written with the column's 4 places

    assert level_of(item, bin_a)[0] == D(3)


def test_one_place_is_singular_in_the_message(item):
    unit = UnitFactory(code="dl", name="Decilitre", dimension="volume", decimal_places=1)
    beer = ItemFactory(sku="BEER", base_unit=unit)

    with pytest.raises(CatalogQuantityFinerThanUnit) as refused:
        check_quantity(beer, D("0.25"))

    assert refused.value.messages == ["BEER is counted to 1 decimal place (dl); 0.25 is not allowed."]


@pytest.mark.parametrize(
    "post",
    [
        pytest.param(lambda w: stock_issue(item=w["item"], location=w["a"], quantity=D("2.5"), actor=None), id="issue"),
        pytest.param(
            lambda w: stock_issue(item=w["item"], warehouse=w["a"].warehouse, quantity=D("2.5"), actor=None),
            id="issue-fefo",
        ),
        pytest.param(
            lambda w: stock_transfer(item=w["item"], quantity=D("2.5"), source=w["a"], destination=w["b"], actor=None),
            id="transfer",
        ),
        pytest.param(
            lambda w: transfer_ship(
                item=w["item"], quantity=D("2.5"), source=w["a"], to_warehouse=w["c"].warehouse, actor=None
            ),
            id="transfer-ship",
        ),
        pytest.param(
            lambda w: stock_adjust(
                item=w["item"], location=w["a"], quantity_delta=D("-2.5"), reason_code="count", actor=None
            ),
            id="adjust",
        ),
        pytest.param(
            lambda w: stock_scrap(item=w["item"], location=w["a"], quantity=D("2.5"), reason_code="broken", actor=None),
            id="scrap",
        ),
        pytest.param(
            lambda w: stock_customer_return(item=w["item"], location=w["a"], quantity=D("2.5"), actor=None),
            id="customer-return",
        ),
        pytest.param(
            lambda w: stock_supplier_return(item=w["item"], location=w["a"], quantity=D("2.5"), actor=None),
            id="supplier-return",
        ),
        pytest.param(
            lambda w: stock_post_batch(
                requests=[StockRequest(kind=MovementKind.ISSUE, item=w["item"], quantity=D("2.5"), source=w["a"])],
                actor=None,
            ),
            id="batch",
        ),
        pytest.param(
            lambda w: stock_post_batch(
                requests=[
                    StockRequest(
                        kind=MovementKind.ISSUE,
                        item=w["item"],
                        quantity=D("2.5"),
                        warehouse=w["a"].warehouse,
                        pick=True,
                    )
                ],
                actor=None,
            ),
            id="batch-pick",
        ),
        pytest.param(
            lambda w: reservation_create(item=w["item"], warehouse=w["a"].warehouse, quantity=D("2.5"), actor=None),
            id="reserve",
        ),
        pytest.param(
            lambda w: adjustment_submit(
                kind="adjustment",
                item=w["item"],
                location=w["a"],
                quantity_delta=D("2.5"),
                reason_code="count",
                actor=w["actor"],
            ),
            id="adjustment-request",
        ),
    ],
)
def test_every_path_refuses_half_an_each_and_writes_nothing(post, actor, bin_a, bin_b, bin_c, item, snapshot):
    receive(item, bin_a, "10")
    world = {"item": item, "a": bin_a, "b": bin_b, "c": bin_c, "actor": actor}
    before = snapshot()

    with pytest.raises(QuantityFinerThanUnit) as refused:
        post(world)

    assert str(refused.value) == HALF_EACH
    assert snapshot() == before
    assert not Reservation.objects.exists()


def test_consuming_or_releasing_part_of_a_reservation_respects_the_unit(bin_a, item, snapshot):
    receive(item, bin_a, "10")
    reservation = reservation_create(item=item, warehouse=bin_a.warehouse, quantity=D(4), actor=None)
    before = snapshot()

    for action in (reservation_consume, reservation_release):
        with pytest.raises(QuantityFinerThanUnit, match="; 1.5 is not allowed"):
            action(reservation=reservation, quantity=D("1.5"), actor=None)

    assert snapshot() == before
    reservation_consume(reservation=reservation, quantity=D(1), actor=None)
    assert level_of(item, bin_a) == (D(9), D(3))  # 10 - 1 consumed; 4 - 1 still reserved


def test_the_last_arrival_of_a_shipment_is_whole_like_its_parts(bin_a, bin_c, item, snapshot):
    receive(item, bin_a, "10")
    shipment = transfer_ship(item=item, quantity=D(3), source=bin_a, to_warehouse=bin_c.warehouse, actor=None)
    before = snapshot()

    with pytest.raises(QuantityFinerThanUnit):
        transfer_arrive(shipment=shipment, destination=bin_c, quantity=D("0.5"), actor=None)

    assert snapshot() == before


def test_a_pick_never_splits_old_half_units_further(old_half, bin_a, bin_b, item):
    receive(item, bin_b, "5")

    movements = stock_issue(item=item, warehouse=bin_a.warehouse, quantity=D(3), actor=None)

    # FEFO goes by location code: A-01 holds 2.5, of which 2 can be counted; B-02 gives the rest.
    assert [(m.source.code, m.quantity) for m in movements] == [("A-01", D(2)), ("A-02", D(1))]
    assert level_of(item, bin_a)[0] == D("0.5")  # 2.5 - 2: left for a manager to correct
    assert level_of(item, bin_b)[0] == D(4)  # 5 - 1


def test_old_half_units_are_corrected_by_reversing_their_movement(old_half, bin_a, item):
    movement_reverse(movement=old_half, actor=None, reason="half a headlamp is no headlamp")

    assert level_of(item, bin_a)[0] == D(0)  # 2.5 - 2.5


def test_quantities_are_written_with_their_units_places():
    each = UnitOfMeasure(code="each", decimal_places=0)
    kg = UnitOfMeasure(code="kg", decimal_places=3)

    assert format_quantity(D("15.0000"), each) == "15 each"
    assert format_quantity(D("1.25"), kg) == "1.250 kg"
    assert format_quantity(D("2.5000"), each) == "2.5 each"  # old data finer than its unit: not hidden
    assert format_quantity(D("-3.0000"), each, with_unit=False) == "-3"
    assert format_quantity(D("1E+1"), each) == "10 each"
    assert format_quantity(None, each) == ""


def test_an_adjustment_may_round_old_half_units_off_but_not_make_new_ones(old_half, bin_a, item, snapshot):
    before = snapshot()
    with pytest.raises(QuantityFinerThanUnit):  # 2.5 + 0.25 = 2.75: still not countable
        stock_adjust(item=item, location=bin_a, quantity_delta=D("0.25"), reason_code="count", actor=None)
    assert snapshot() == before

    stock_adjust(item=item, location=bin_a, quantity_delta=D("-0.5"), reason_code="count", actor=None)

    assert level_of(item, bin_a)[0] == D(2)  # 2.5 - 0.5
    with pytest.raises(QuantityFinerThanUnit):  # now countable: no fraction may come back
        stock_adjust(item=item, location=bin_a, quantity_delta=D("0.5"), reason_code="count", actor=None)

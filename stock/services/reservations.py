"""Reservations: hold stock planned by FEFO (``picking.fefo_plan``), release it, or consume it
(issues that take from ``reserved`` and ``on_hand`` together)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from catalog.models import Item, Location, LocationKind, Warehouse
from catalog.permissions import WarehouseAction, warehouse_require
from catalog.units import quantity_problem
from common.actors import Actor

from ..models import (
    ZERO,
    Lot,
    Movement,
    MovementKind,
    Reservation,
    ReservationLine,
    ReservationStatus,
)
from .errors import InsufficientStock, InvalidMovement, QuantityFinerThanUnit, _fmt
from .lines import LevelKey, MovementLine, _quantity, _virtual
from .locks import _levels_change_reserved, _lock_levels
from .lots import _existing_lot
from .picking import fefo_plan, fefo_retry
from .posting import movement_post, movements_for_key


@transaction.atomic
def reservation_create(
    *,
    item: Item,
    warehouse: Warehouse,
    quantity: Decimal,
    actor: Actor | None,
    location: Location | None = None,
    lot: Lot | str | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    idempotency_key: str | None = None,
) -> Reservation:
    """Hold ``quantity`` of an item for a demand document, allocated by FEFO over the warehouse
    (or the location's subtree, or one lot). Refuses with InsufficientStock if not enough is
    available; the same idempotency key returns the first reservation."""
    warehouse_require(actor, warehouse, WarehouseAction.POST, model_perm="stock.add_reservation")
    if idempotency_key and (previous := Reservation.objects.filter(idempotency_key=idempotency_key).first()):
        return previous
    quantity = _quantity(quantity)
    if quantity <= 0:
        raise InvalidMovement("A reservation needs a quantity greater than zero.")
    if problem := quantity_problem(item, quantity):
        raise QuantityFinerThanUnit(problem)
    if location is not None and location.warehouse_id != warehouse.pk:
        raise InvalidMovement(f"{location} is not in warehouse {warehouse.code}.")
    lot = _existing_lot(item, lot)

    def attempt() -> Reservation:
        plan = fefo_plan(item=item, quantity=quantity, warehouse=warehouse, location=location, lot=lot)
        changes = {(item.pk, loc.pk, plan_lot.pk if plan_lot else None): take for loc, plan_lot, take in plan}
        with transaction.atomic():
            levels = _lock_levels(changes.keys())
            for key, take in changes.items():  # checked under lock, before anything changes
                if levels[key].available < take:
                    raise InsufficientStock(
                        item=item,
                        location=levels[key].location,
                        lot=levels[key].lot,
                        asked=take,
                        available=levels[key].available,
                    )
            _levels_change_reserved(changes)
            reservation = Reservation.objects.create(
                item=item,
                warehouse=warehouse,
                location=location,
                lot=lot,
                quantity=quantity,
                reference_type=reference_type,
                reference_id=reference_id,
                reference_line=reference_line,
                idempotency_key=idempotency_key or None,
                actor=actor,
            )
            ReservationLine.objects.bulk_create(
                [
                    ReservationLine(reservation=reservation, location=loc, lot=plan_lot, quantity=take)
                    for loc, plan_lot, take in plan
                ]
            )
            return reservation

    try:
        return fefo_retry(attempt)
    except IntegrityError:
        if idempotency_key and (previous := Reservation.objects.filter(idempotency_key=idempotency_key).first()):
            return previous
        raise


def _take_from_lines(
    reservation: Reservation, quantity: Decimal | None
) -> tuple[Decimal, list[tuple[ReservationLine, Decimal]]]:
    open_quantity = reservation.open_quantity
    quantity = open_quantity if quantity is None else _quantity(quantity)
    if quantity != open_quantity and (problem := quantity_problem(reservation.item, quantity)):
        raise QuantityFinerThanUnit(problem)
    if reservation.status != ReservationStatus.OPEN or open_quantity <= 0:
        raise InvalidMovement(f"Reservation #{reservation.pk} is {reservation.get_status_display().lower()}.")
    if quantity <= 0 or quantity > open_quantity:
        raise InvalidMovement(
            f"Reservation #{reservation.pk} holds {_fmt(open_quantity)}; cannot take {_fmt(quantity)}."
        )
    takes, need = [], quantity
    for line in reservation.lines.filter(quantity__gt=0).select_related("location__warehouse", "lot").order_by("id"):
        if need <= 0:
            break
        take = min(need, line.quantity)
        takes.append((line, take))
        need -= take
    return quantity, takes


def _reservation_settle(
    reservation: Reservation, takes: list[tuple[ReservationLine, Decimal]], *, consumed: Decimal, released: Decimal
) -> Reservation:
    for line, take in takes:
        ReservationLine.objects.filter(pk=line.pk).update(quantity=F("quantity") - take)
    reservation.consumed += consumed
    reservation.released += released
    if reservation.open_quantity == 0:
        reservation.status = ReservationStatus.CONSUMED if reservation.consumed > 0 else ReservationStatus.RELEASED
    reservation.save(update_fields=["consumed", "released", "status", "updated_at"])
    return reservation


@transaction.atomic
def reservation_release(
    *, reservation: Reservation, actor: Actor | None, quantity: Decimal | None = None
) -> Reservation:
    """Give back (part of) what is held: the levels' ``reserved`` drops, nothing moves."""
    warehouse_require(actor, reservation.warehouse, WarehouseAction.POST, model_perm="stock.change_reservation")
    reservation = Reservation.objects.select_for_update().get(pk=reservation.pk)
    quantity, takes = _take_from_lines(reservation, quantity)
    changes: dict[LevelKey, Decimal] = defaultdict(Decimal)
    for line, take in takes:
        changes[(reservation.item_id, line.location_id, line.lot_id)] -= take
    _levels_change_reserved(changes)
    return _reservation_settle(reservation, takes, consumed=ZERO, released=quantity)


@transaction.atomic
def reservation_consume(
    *,
    reservation: Reservation,
    actor: Actor | None,
    quantity: Decimal | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Movement]:
    """Ship (part of) what is held: issue movements from the reserved levels to the customer
    location, taking from ``reserved`` and ``on_hand`` together."""
    warehouse_require(actor, reservation.warehouse, WarehouseAction.POST, model_perm="stock.change_reservation")
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous
    # The reservation's row only (``of``): with ``select_related`` a plain FOR UPDATE also locks
    # the item's row, and every transaction that inserts a row naming the item checks that key
    # (FOR KEY SHARE) at its COMMIT: a reservation being created held the level this consume
    # then waited for, while its COMMIT waited for the item's row (a deadlock the soak met).
    reservation = Reservation.objects.select_for_update(of=("self",)).select_related("item").get(pk=reservation.pk)
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous  # a racing retry consumed while we waited for the reservation lock
    quantity, takes = _take_from_lines(reservation, quantity)
    customer = _virtual(LocationKind.CUSTOMER)
    lines = [
        MovementLine(
            item=reservation.item,
            quantity=take,
            source=line.location,
            destination=customer,
            kind=MovementKind.ISSUE,
            lot=line.lot,
            reserved=take,
            reference_type=reservation.reference_type or "stock.reservation",
            reference_id=reservation.reference_id or str(reservation.pk),
            reference_line=reservation.reference_line,
        )
        for line, take in takes
    ]
    movements = movement_post(lines=lines, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at)
    _reservation_settle(reservation, takes, consumed=quantity, released=ZERO)
    return movements

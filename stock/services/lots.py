"""Lots: found or created (a new perishable lot's expiry counted from the day it was
received), and ``receipt_line``, the one builder of a receipt line (floor, admin, API,
purchase orders, opening balances)."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from catalog.models import Item, Tracking

from ..models import (
    Lot,
)
from .errors import InvalidMovement


def lot_get_or_create(
    *, item: Item, code: str, expiry_date: date | None = None, received_on: date | None = None
) -> Lot:
    """The lot ``code`` of ``item``, created if new. A perishable item's new lot needs an expiry
    (or gets received date + shelf life); an existing lot must not be given another expiry."""
    code = (code or "").strip()
    if not code:
        raise InvalidMovement(f"{item.sku} is lot-tracked: give a lot code.")
    if item.tracking == Tracking.NONE:
        raise InvalidMovement(f"{item.sku} is not lot-tracked: post it without a lot.")
    lot = Lot.objects.filter(item=item, code=code).first()
    if lot is not None:
        if expiry_date is not None and lot.expiry_date not in (None, expiry_date):
            raise InvalidMovement(
                f"Lot {code} of {item.sku} already exists with expiry {lot.expiry_date}, not {expiry_date}."
            )
        return lot
    received_on = received_on or timezone.localdate()
    if expiry_date is None and item.perishable:
        if not item.shelf_life_days:
            raise InvalidMovement(f"Lot {code} of perishable {item.sku} needs an expiry date.")
        expiry_date = received_on + timedelta(days=item.shelf_life_days)
    lot, _ = Lot.objects.get_or_create(
        item=item, code=code, defaults={"expiry_date": expiry_date, "received_on": received_on}
    )
    return lot


def _resolve_lot(
    item: Item, lot: Lot | str | None, expiry_date: date | None = None, received_on: date | None = None
) -> Lot | None:
    if lot is None or isinstance(lot, Lot):
        return lot
    return lot_get_or_create(item=item, code=lot, expiry_date=expiry_date, received_on=received_on)


def _existing_lot(item: Item, lot: Lot | str | None) -> Lot | None:
    if lot is None or isinstance(lot, Lot):
        return lot
    found = Lot.objects.filter(item=item, code=lot.strip()).first()
    if found is None:
        raise InvalidMovement(f"{item.sku} has no lot {lot!r}.")
    return found

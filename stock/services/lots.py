"""Lots: found or created (a new perishable lot's expiry counted from the day it was
received), and ``receipt_line``, the one builder of a receipt line (floor, admin, API,
purchase orders, opening balances)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.models import Item, Location, LocationKind, Tracking

from ..models import Lot, MovementKind
from .errors import InvalidMovement
from .lines import MovementLine, _virtual


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


def receipt_date(occurred_at: datetime | None) -> date:
    """The day stock arriving at ``occurred_at`` was received: a new lot's ``received_on``, from
    which a perishable lot's expiry counts. None is now. A naive ``occurred_at`` counts as today
    here; the posting refuses it (and the lot rolls back with it)."""
    if occurred_at is None or timezone.is_naive(occurred_at):
        return timezone.localdate()
    return timezone.localdate(occurred_at)


def receipt_line(
    *,
    item: Item,
    quantity: Decimal,
    destination: Location,
    occurred_at: datetime | None,
    lot: Lot | str | None = None,
    expiry_date: date | None = None,
    unit_cost: Decimal | None = None,
    reference_type: str = "",
    reference_id: str = "",
    reference_line: str = "",
    note: str = "",
    supplier: Location | None = None,
) -> MovementLine:
    """The one builder of a receipt line (supplier location -> ``destination``), used by
    ``stock_receive`` and batch receipts (floor, admin, API), purchase-order receipts and opening
    balances. A lot given by code is found or created; a new one is received on the receipt's
    date (``occurred_at``, not today), so a perishable lot without expiry expires shelf life days
    after the receipt, however late it is booked. ``unit_cost`` defaults to the item's standard
    cost; ``supplier`` is the supplier location when the caller has looked it up once for many
    lines. Call it inside the posting's transaction: a refused posting must take the new lot
    with it."""
    return MovementLine(
        item=item,
        quantity=quantity,
        source=supplier or _virtual(LocationKind.SUPPLIER),
        destination=destination,
        kind=MovementKind.RECEIPT,
        lot=_resolve_lot(item, lot, expiry_date, received_on=receipt_date(occurred_at)),
        unit_cost=item.standard_cost if unit_cost is None else unit_cost,
        reference_type=reference_type,
        reference_id=reference_id,
        reference_line=reference_line,
        note=note,
    )

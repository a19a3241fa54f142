"""Short picks: a pick refused at a bin for lack of stock, kept as a signal that the bin's book
stock may be wrong (``counting``'s plan counts those bins first after the class-due ones). The
refusal itself still writes no movement; this writes one ``ShortPick`` row, outside the refused
posting's transaction (callers record after the refusal rolled back)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.models import Item, Location
from catalog.permissions import WarehouseAction, warehouse_require
from common.actors import Actor

from ..models import Lot, ShortPick
from .errors import InsufficientStock, InvalidMovement

SOURCES = ("floor", "api")


@transaction.atomic
def short_pick_record(
    *,
    item: Item,
    location: Location,
    lot: Lot | None,
    asked: Decimal,
    available: Decimal,
    actor: Actor | None,
    source: str,
    at: datetime | None = None,
) -> ShortPick:
    """Record that ``actor`` asked ``asked`` of ``item`` (``lot``) at the bin ``location`` and
    only ``available`` was there. Once per (item, bin, lot) and local day: a second short pick
    the same day returns the first record and writes nothing (the plan needs the bin once).
    Needs the right to post movements in the bin's warehouse (whoever may pick there); refuses
    a location that is not a bin of a warehouse, a lot of another item, and a pick that was not
    short (``asked <= available``)."""
    if not location.is_internal or location.warehouse_id is None:
        raise InvalidMovement(f"{location} is not a bin of a warehouse: a short pick is recorded at a bin.")
    warehouse_require(actor, location.warehouse, WarehouseAction.POST, model_perm="stock.add_movement")
    if lot is not None and lot.item_id != item.pk:
        raise InvalidMovement(f"Lot {lot.code} is of {lot.item.sku}, not {item.sku}.")
    if source not in SOURCES:
        raise InvalidMovement(f"Short pick source {source!r} is not one of {', '.join(SOURCES)}.")
    if asked <= available:
        raise InvalidMovement(f"Asked {asked} of {item.sku} at {location.code} with {available} there: not short.")
    at = at or timezone.now()
    day = timezone.localdate(at)
    same = ShortPick.objects.filter(item=item, location=location, lot=lot, day=day).first()
    if same is not None:
        return same
    return ShortPick.objects.create(
        warehouse_id=location.warehouse_id,
        item=item,
        location=location,
        lot=lot,
        asked=asked,
        available=max(available, Decimal(0)),
        at=at,
        day=day,
        by=actor,
        source=source,
    )


def short_pick_from_refusal(exc: InsufficientStock, *, actor: Actor | None, source: str) -> ShortPick | None:
    """Record the short pick a refusal names when it names a bin (not a warehouse's FEFO pick,
    which is short of the item, not of a bin); None otherwise. For the doors that caught the
    ``InsufficientStock`` of an issue."""
    if not isinstance(exc.location, Location) or not exc.location.is_internal:
        return None
    return short_pick_record(
        item=exc.item,
        location=exc.location,
        lot=exc.lot,
        asked=exc.asked,
        available=exc.available,
        actor=actor,
        source=source,
    )

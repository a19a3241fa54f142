"""The one pick planner: FEFO over available stock (first expiry first, then the oldest lot,
then location code), used by sales, scrap and supplier returns whose place is not exact
(``batches``), and by reservations.

A plan is made without locks; the posting (or the reservation) checks it under lock and
refuses with ``InsufficientStock`` when a concurrent posting took planned stock meanwhile.
``fefo_retry`` then plans again."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from catalog.models import Item, Location, Warehouse
from catalog.units import countable

from ..models import ZERO, Lot
from ..selectors import stock_levels_available_fefo
from .errors import InsufficientStock, _PlannedShort
from .lines import LevelKey

# An optimistic FEFO plan fails only when a concurrent posting took planned stock, and a plan
# that finds too little stock refuses at once; so re-planning converges (each failure is someone
# else's success). The bound only guards against a bug turning that into an endless loop.
FEFO_RETRIES = 200

T = TypeVar("T")


def fefo_plan(
    *,
    item: Item,
    quantity: Decimal,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
    taken: dict[LevelKey, Decimal] | None = None,
) -> list[tuple[Location, Lot | None, Decimal]]:
    """Where to take ``quantity`` from: available stock of unexpired lots, first expiry first,
    then oldest lot, then location code. Raises InsufficientStock (``_PlannedShort``: final, not
    re-planned) if there is not enough.

    ``taken`` (updated) is what earlier lines of the same batch already planned to take per
    (item, location, lot), so two lines of one item do not count the same stock twice."""
    plan, need = [], quantity
    candidates = stock_levels_available_fefo(item=item, warehouse=warehouse, location=location, lot=lot)
    for level in candidates:
        if need <= 0:
            break
        key = (item.pk, level.location_id, level.lot_id)
        # Only what the unit can count: a bin holding 2.5 each (old data) gives 2, never 0.5.
        free = level.available - (taken.get(key, ZERO) if taken is not None else ZERO)
        take = min(need, countable(free, item.base_unit))
        if take <= 0:
            continue
        if taken is not None:
            taken[key] = taken.get(key, ZERO) + take
        plan.append((level.location, level.lot, take))
        need -= take
    if need > 0:
        raise _PlannedShort(
            item=item, location=location or warehouse, lot=lot, asked=quantity, available=quantity - need
        )
    return plan


def fefo_retry(attempt: Callable[[], T], *, replans: bool = True) -> T:
    """Run ``attempt`` (plan, then post or reserve under lock) until it is not refused for
    stock a concurrent posting took, at most ``FEFO_RETRIES`` times. A plan that finds too
    little stock (``_PlannedShort``) is refused at once, not planned again; without ``replans``
    (the attempt has no plan to make again) any refusal is final."""
    for number in range(FEFO_RETRIES):
        try:
            return attempt()
        except _PlannedShort:
            raise
        except InsufficientStock:
            if not replans or number == FEFO_RETRIES - 1:
                raise
    raise AssertionError("unreachable")

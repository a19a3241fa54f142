"""The one pick planner: FEFO over available stock (first expiry first, then the oldest lot,
then location code), used by sales and picks (``batches``), and reservations."""

from __future__ import annotations

from decimal import Decimal

from catalog.models import Item, Location, Warehouse

from ..models import (
    Lot,
)
from .errors import InsufficientStock

# An optimistic FEFO plan fails only when a concurrent posting took planned stock, and a plan
# that finds too little stock refuses at once; so re-planning converges (each failure is someone
# else's success). The bound only guards against a bug turning that into an endless loop.
FEFO_RETRIES = 200


def fefo_plan(
    *,
    item: Item,
    quantity: Decimal,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
) -> list[tuple[Location, Lot | None, Decimal]]:
    """Where to take ``quantity`` from: available stock of unexpired lots, first expiry first,
    then oldest lot, then location code. Raises InsufficientStock if there is not enough."""
    from ..selectors import stock_levels_available_fefo

    plan, need = [], quantity
    candidates = stock_levels_available_fefo(item=item, warehouse=warehouse, location=location, lot=lot)
    for level in candidates:
        if need <= 0:
            break
        take = min(need, level.available)
        plan.append((level.location, level.lot, take))
        need -= take
    if need > 0:
        raise InsufficientStock(
            item=item, location=location or warehouse, lot=lot, asked=quantity, available=quantity - need
        )
    return plan

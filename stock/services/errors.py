"""The refusals of the ledger: ``StockError`` and its subclasses (each with a machine-readable
``code``; the doors map them to HTTP statuses and screens by type, never by text)."""

from __future__ import annotations

from decimal import Decimal

from catalog.models import Item, Location, Warehouse
from catalog.units import QuantityProblem, format_quantity

from ..models import Lot


class StockError(Exception):
    """A refused stock operation. ``code`` is machine-readable, ``str()`` is for people."""

    code = "stock_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InsufficientStock(StockError):
    code = "insufficient_stock"

    def __init__(
        self, *, item: Item, location: Location | Warehouse | None, lot: Lot | None, asked: Decimal, available: Decimal
    ) -> None:
        if isinstance(location, Warehouse):
            where = f" in warehouse {location.code}"
        else:
            where = f" at {location}" if location is not None else ""
        lot_text = f" (lot {lot.code})" if lot is not None else ""

        def number(value: Decimal) -> str:  # with the unit's places: "Only 1.250 of BEANS"
            return format_quantity(value, item.base_unit, with_unit=False)

        super().__init__(
            f"Only {number(available)} of {item.sku}{lot_text} available{where}; asked {number(asked)}.",
            sku=item.sku,
            location=str(location) if location else None,
            lot=lot.code if lot else None,
            asked=asked,
            available=available,
        )
        self.item, self.location, self.lot, self.asked, self.available = item, location, lot, asked, available


class InvalidMovement(StockError):
    code = "invalid_movement"


class AlreadyReversed(StockError):
    code = "already_reversed"


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value.normalize()}"


class BackdatedTooFar(InvalidMovement):
    """``occurred_at`` is further back than ``STOCK_BACKDATE_DAYS`` and the actor may not adjust
    stock in the posting's warehouses (or it falls into a closed period)."""

    code = "backdated_too_far"


class QuantityFinerThanUnit(InvalidMovement):
    """A quantity finer than the item's base unit allows (2.5 of a unit counted in whole
    units). ``problem`` (catalog.units.QuantityProblem) carries sku, unit, decimal_places and
    quantity; the message is the one every door shows."""

    code = "quantity_finer_than_unit"

    def __init__(self, problem: QuantityProblem) -> None:
        super().__init__(
            problem.message,
            sku=problem.sku,
            unit=problem.unit,
            decimal_places=problem.decimal_places,
            quantity=problem.quantity,
        )
        self.problem = problem

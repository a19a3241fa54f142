"""The refusals of the ledger: ``StockError`` and its subclasses (each with a machine-readable
``code`` and ``http_status``, read by the API's error handler; the doors map them to screens by
type, never by text)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from catalog.models import Item, Location, Warehouse
from catalog.units import QuantityProblem, format_quantity
from common.errors import DomainError
from common.numbers import plain

from ..models import QTY_STEP, Lot


class StockError(DomainError):
    """A refused stock operation. ``code`` is machine-readable, ``str()`` is for people;
    ``http_status`` is the API's answer (400 unless a subclass says otherwise)."""

    code = "stock_error"


class InsufficientStock(StockError):
    """Less available than asked: a conflict with the stock as it lies (409 at the API, with
    ``sku``, ``available``, ``asked``, ``warehouse``, ``location`` and ``lot``)."""

    code = "insufficient_stock"
    http_status = 409

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

    def api_fields(self) -> dict[str, Any]:
        where = self.location  # a Location, a Warehouse (FEFO over it) or None
        warehouse = where if isinstance(where, Warehouse) else getattr(where, "warehouse", None)
        return {
            "sku": self.item.sku,
            "available": str(self.available.quantize(QTY_STEP)),
            "asked": str(self.asked.quantize(QTY_STEP)),
            "warehouse": warehouse.code if warehouse is not None else None,
            "location": str(where) if isinstance(where, Location) else None,
            "lot": self.lot.code if self.lot is not None else None,
        }


class InvalidMovement(StockError):
    code = "invalid_movement"


class AlreadyReversed(StockError):
    """The movement was reversed before: a conflict with the ledger as it stands (409)."""

    code = "already_reversed"
    http_status = 409


_fmt = plain  # quantities in messages: 15, 2.5 (never 15.0000 or 1E+1)


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


class _PlannedShort(InsufficientStock):
    """``picking.fefo_plan`` found less available than asked before anything was locked: the
    refusal is final (``fefo_retry`` re-plans only when the check under lock refuses a plan,
    which means a concurrent posting took planned stock)."""


class _Declined(Exception):  # noqa: N818 - a signal between the posting paths, never shown
    """A fast path (the PL/pgSQL function, ``function.py``; the set path, ``bulk.py``) does not
    handle this posting and has written nothing (its savepoint rolled back): ``posting._post``,
    the reference path, posts it instead."""

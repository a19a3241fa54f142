"""The only writer of the ledger: movements, stock levels, valuation, reservations.

A package split along its seams (docs/ledger.md lists what each module holds); every public
name is re-exported here, so ``from stock.services import stock_issue`` is the way in.

Every business action (receive, issue, transfer, scrap, adjust, return, reverse, reserve,
release, consume) ends in ``movement_post`` or, for reservations, in ``_levels_change_reserved``.

Locking protocol (docs/ledger.md), the same in every path so that no two postings deadlock:
1. document rows first (the reservation being consumed, the movement being reversed or the
   shipment arriving), with ``SELECT ... FOR UPDATE``;
2. then the ``StockLevel`` rows, all of them in (item, location, lot) order, after creating the
   missing ones (in that same order, ``ON CONFLICT DO NOTHING``) before locking any;
3. then the ``ItemValuation`` rows in (item, warehouse) order; their lock guards the pair's FIFO
   layers.
On PostgreSQL a one-line posting that reverses nothing runs this same protocol in one statement,
the database function ``stock_post_line`` (migration 0006, ``function._post_line_in_database``).
Call ``movement_post`` once per transaction with all lines (it takes a batch) rather than
several times: two separate calls would lock in two rounds and the order would no longer hold.

Refusals raise a ``StockError`` subclass before anything is written, or roll the savepoint back,
so a refused posting leaves no row behind. Every action checks the ``actor``'s permission
(``catalog.permissions``: the model permission of the role and the warehouse's object
permission) and raises ``WarehousePermissionDenied`` before writing; ``actor=None`` is the
system itself (migrations, operators' management commands) and is trusted.
"""

from .actions import (
    movement_reverse,
    stock_adjust,
    stock_customer_return,
    stock_issue,
    stock_receive,
    stock_scrap,
    stock_supplier_return,
    stock_transfer,
    transfer_arrive,
    transfer_ship,
)
from .adjustments import (
    AdjustmentOutcome,
    adjustment_approval_reason,
    adjustment_request_approve,
    adjustment_request_reject,
    adjustment_submit,
    adjustment_unit_cost,
)
from .balances import period_balances_close, period_close
from .batches import StockRequest, stock_post_batch
from .documents import shipment_arrived_quantity
from .errors import (
    AlreadyReversed,
    BackdatedTooFar,
    InsufficientStock,
    InvalidMovement,
    QuantityFinerThanUnit,
    StockError,
)
from .lines import ALLOWED_SIDES, CLOCK_SKEW, AvailableAfter, LevelKey, MovementLine, ValuationKey
from .lots import lot_get_or_create, receipt_line
from .picking import FEFO_RETRIES, fefo_plan
from .posting import (
    POSTING_FUNCTION_MIRRORS,
    POSTING_FUNCTION_PINS,
    movement_post,
    movements_for_key,
    purchase_receipts_post,
)
from .reservations import reservation_consume, reservation_create, reservation_release
from .revaluation import RECEIPT_ENTRY_KINDS, receipts_revalue, stock_write_down, value_entry_reverse
from .shortpicks import short_pick_from_refusal, short_pick_record

__all__ = [
    "period_balances_close",
    "period_close",
    "ALLOWED_SIDES",
    "CLOCK_SKEW",
    "FEFO_RETRIES",
    "POSTING_FUNCTION_MIRRORS",
    "POSTING_FUNCTION_PINS",
    "AdjustmentOutcome",
    "AlreadyReversed",
    "AvailableAfter",
    "BackdatedTooFar",
    "InsufficientStock",
    "InvalidMovement",
    "LevelKey",
    "MovementLine",
    "RECEIPT_ENTRY_KINDS",
    "QuantityFinerThanUnit",
    "StockError",
    "StockRequest",
    "ValuationKey",
    "adjustment_approval_reason",
    "adjustment_request_approve",
    "adjustment_request_reject",
    "adjustment_submit",
    "adjustment_unit_cost",
    "fefo_plan",
    "lot_get_or_create",
    "movement_post",
    "movement_reverse",
    "short_pick_from_refusal",
    "short_pick_record",
    "movements_for_key",
    "purchase_receipts_post",
    "receipt_line",
    "receipts_revalue",
    "reservation_consume",
    "reservation_create",
    "reservation_release",
    "shipment_arrived_quantity",
    "stock_adjust",
    "stock_customer_return",
    "stock_issue",
    "stock_post_batch",
    "stock_receive",
    "stock_scrap",
    "stock_supplier_return",
    "stock_transfer",
    "stock_write_down",
    "transfer_arrive",
    "transfer_ship",
    "value_entry_reverse",
]

"""The one-statement posting on PostgreSQL: ``stock_post_line`` (migration 0006) posts one
line that reverses nothing exactly as ``posting._post`` would (the parity tests pin both,
``posting.POSTING_FUNCTION_PINS``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from catalog.models import ValuationMethod
from common.actors import Actor

from ..models import Movement
from .errors import InsufficientStock, _Declined
from .lines import AvailableAfter, MovementLine, _level_policy, _warehouse_of
from .locks import _mark_saved, _movement

# Outcomes of stock_post_line_guarded (migration 0014) besides "posted": the source has too
# little (detail: the available quantity); the line would make a valuation pool short or settles
# one (only the Python path does that); an integrity violation (detail: its message), such as the
# movement's unique idempotency key taken by a racing retry.
_INSUFFICIENT = "insufficient"
_DECLINED = "declined"
_INTEGRITY = "integrity"
_POST_LINE = "SELECT * FROM stock_post_line_guarded(" + ", ".join(["%s"] * 26) + ")"


def _posts_in_database(lines: list[MovementLine]) -> bool:
    """Does this posting go through the database function ``stock_post_line`` (migration
    0006)? On PostgreSQL, one line that reverses nothing: the function writes exactly what
    ``_post`` would, in one statement instead of seven or more (tests/stock/test_posting_function.py
    posts the same sequences both ways and compares every row). Batches and reversals take the
    Python path, and so do returns naming their movement; the function itself declines a line
    that makes a valuation pool short or fills a short one (``_Declined``)."""
    return (
        len(lines) == 1
        and lines[0].reverses is None
        and lines[0].origin is None
        and connection.vendor == "postgresql"
        and settings.STOCK_POSTING_FUNCTION
    )


def _post_line_in_database(
    line: MovementLine,
    *,
    actor: Actor | None,
    idempotency_key: str | None,
    occurred_at: datetime,
    available_after: AvailableAfter | None = None,
) -> Movement:
    """Post one validated, authorised line with ``stock_post_line_guarded``: ONE statement that
    calls ``stock_post_line``, which follows the locking protocol of ``_post`` (levels, then
    valuations, each in key order) and either writes everything or nothing; when a row is
    missing, the call's locks are released and it runs again creating the missing rows before
    any lock, in the same statement. A refusal is undone inside the statement (a subtransaction
    of the server's own), so no savepoint is sent around it: the caller's transaction stays
    usable, and outside a transaction the statement is its own. Raises ``InsufficientStock``,
    ``IntegrityError`` (the idempotency key's movement, for ``movement_post`` to answer) or
    ``_Declined`` (nothing written) for a line only ``_post`` values. With ``available_after``
    (of the source's warehouse), records the item's available quantity there after posting,
    read by the same statement."""
    source, destination = line.source, line.destination
    batch, posted_at = uuid.uuid4(), timezone.now()
    available_in = available_after.warehouse.pk if available_after is not None else None
    params: list[Any] = [
        batch,
        line.item.pk,
        line.lot.pk if line.lot is not None else None,
        line.quantity,
        line.reserved,
        source.pk,
        _warehouse_of(source),
        _level_policy(source),
        destination.pk,
        _warehouse_of(destination),
        _level_policy(destination),
        line.kind,
        line.reason_code,
        line.note,
        line.unit_cost,
        line.total_cost,
        line.item.standard_cost,
        line.reference_type,
        line.reference_id,
        line.reference_line,
        actor.pk if actor is not None else None,
        occurred_at,
        posted_at,
        idempotency_key,
        line.item.valuation_method == ValuationMethod.FIFO,
        available_in if available_in is not None and available_in == _warehouse_of(source) else None,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_POST_LINE, params)
        outcome, movement_id, unit_cost, total_cost, detail, available = cursor.fetchone()
    if outcome == _DECLINED:
        raise _Declined
    if outcome == _INSUFFICIENT:
        raise InsufficientStock(
            item=line.item, location=source, lot=line.lot, asked=line.quantity, available=Decimal(detail)
        )
    if outcome == _INTEGRITY:
        raise IntegrityError(detail)
    if available_after is not None and available is not None:
        available_after.by_item[line.item.pk] = available
    movement = _movement(
        line,
        batch=batch,
        number=1,
        unit_cost=unit_cost,
        total_cost=total_cost,
        actor=actor,
        occurred_at=occurred_at,
        posted_at=posted_at,
        idempotency_key=idempotency_key,
    )
    _mark_saved(movement, movement_id)
    return movement

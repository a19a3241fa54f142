"""The one-statement posting on PostgreSQL: ``stock_post_line`` (migration 0006) posts one
line that reverses nothing exactly as ``posting._post`` would (the parity tests pin both,
``posting.POSTING_FUNCTION_PINS``)."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from catalog.models import ValuationMethod
from common.actors import Actor

from ..models import Movement
from .errors import InsufficientStock, _Declined
from .lines import MovementLine, _level_policy, _warehouse_of
from .locks import _mark_saved, _movement

# SQLSTATEs of stock_post_line: the source has too little (DETAIL: the available quantity), and
# a level or valuation row is missing (call again, creating rows first).
_SQLSTATE_INSUFFICIENT = "IV001"
_SQLSTATE_MISSING_ROWS = "IV002"
# The line would make a valuation pool short or settles one: only the Python path does that.
_SQLSTATE_DECLINED = "IV003"
_POST_LINE = "SELECT * FROM stock_post_line(" + ", ".join(["%s"] * 26) + ")"


def _sqlstate(error: DatabaseError) -> str | None:
    return getattr(error.__cause__, "sqlstate", None)


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
    line: MovementLine, *, actor: Actor | None, idempotency_key: str | None, occurred_at: datetime
) -> Movement:
    """Post one validated, authorised line with ``stock_post_line``: one statement that
    follows the locking protocol of ``_post`` (levels, then valuations, each in key order; when
    a row is missing the call fails, which releases its locks, and runs again creating the
    missing rows before any lock) and either writes everything or nothing. Outside a
    transaction the statement is its own transaction (no BEGIN and COMMIT round trips); inside
    one it runs in a savepoint, so a refusal leaves the caller's transaction usable. Raises
    ``_Declined`` (nothing written) for a line only ``_post`` values."""
    source, destination = line.source, line.destination
    batch, posted_at = uuid.uuid4(), timezone.now()
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
    ]

    def call(create_missing: bool) -> tuple[int, Decimal, Decimal]:
        with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
            cursor.execute(_POST_LINE, [*params, create_missing])
            return cursor.fetchone()

    try:
        try:
            movement_id, unit_cost, total_cost = call(create_missing=False)
        except DatabaseError as exc:
            if _sqlstate(exc) != _SQLSTATE_MISSING_ROWS:
                raise
            movement_id, unit_cost, total_cost = call(create_missing=True)
    except DatabaseError as exc:
        if _sqlstate(exc) == _SQLSTATE_DECLINED:
            raise _Declined from None
        if _sqlstate(exc) != _SQLSTATE_INSUFFICIENT:
            raise
        available = Decimal(exc.__cause__.diag.message_detail)  # type: ignore[union-attr]  # psycopg's error
        raise InsufficientStock(
            item=line.item, location=source, lot=line.lot, asked=line.quantity, available=available
        ) from None
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

"""Small helpers of the report modules (not a report: registers nothing)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
STEP = Decimal("0.0001")


def money(value: Decimal) -> Decimal:
    """Money as the ledger stores it (4 places)."""
    return Decimal(value).quantize(STEP, rounding=ROUND_HALF_UP)


def share(part: Decimal, whole: Decimal, value: Decimal) -> Decimal:
    """``part``'s share of ``value`` when ``whole`` is worth ``value`` (0 when ``whole`` is 0)."""
    if not whole:
        return Decimal(0)
    if part == whole:
        return value
    return part * value / whole


def ratio(numerator: Decimal, denominator: Decimal, places: str = "0.01") -> Decimal | None:
    """``numerator / denominator`` rounded, or None when the denominator is 0."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places), rounding=ROUND_HALF_UP)

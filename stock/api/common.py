"""What the ledger's API modules share: the quantity and cost fields and their bounds, the lot
filter (``unknown_lot``), and the short-pick note on a refused issue."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import NamingFilterSet
from common.api.errors import ApiError
from common.api.fields import QuantityField

from ..models import Lot
from ..selectors import lots_visible
from ..services import (
    InsufficientStock,
    short_pick_from_refusal,
)

# Largest quantity of one line (< 10^9) and unit cost (< 10^7): their product always fits the
# ledger's money columns (16 digits before the point).
QUANTITY_DIGITS = 13
UNIT_COST_DIGITS = 11
POSITIVE = Decimal("0.0001")
MAX_LINES = 1000


def _noting_short_picks(request: Request, post: Callable[[], Response], *, issues: bool) -> Response:
    """Run ``post``; when it is refused because a named bin holds less than an issue asked
    (``issues``: every line that takes stock out is an issue), record the short pick for the
    count plan (``stock.services.short_pick_record``) after the refusal rolled back, then let
    the 409 through: the refusal itself still writes no movement."""
    try:
        return post()
    except InsufficientStock as exc:
        if issues:
            short_pick_from_refusal(exc, actor=request.user, source="api")
        raise


def quantity_field(**kwargs: Any) -> QuantityField:
    return QuantityField(max_digits=QUANTITY_DIGITS, **kwargs)


def unit_cost_field() -> QuantityField:
    return QuantityField(max_digits=UNIT_COST_DIGITS, min_value=Decimal(0), required=False, allow_null=True)


class UnknownLot(ApiError):
    default_code = "unknown_lot"


class LedgerFilterSet(NamingFilterSet):
    """``NamingFilterSet`` plus lots: ``method="filter_lot"`` names a lot by code (exactly),
    among the lots the user may see (``stock.selectors.lots_visible``); none is ``unknown_lot``."""

    def filter_lot(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        lots = lots_visible(Lot.objects.filter(code=value.strip()), self.request.user)
        if not lots.exists():
            raise UnknownLot(f"No lot you may view has the code {value!r}.", lot=value, field="lot")
        return queryset.filter(**{f"{name}__in": lots})

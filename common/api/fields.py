"""Fields of the API's requests and responses: quantities and amounts as Decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.numbers import NumberError, parse_decimal

DECIMAL_PATTERN = r"^-?\d{0,14}(?:\.\d{0,4})?$"
RESPONSE_STEP = Decimal("0.0001")  # the 4 places of every quantity and amount column


@extend_schema_field(
    {"oneOf": [{"type": "number"}, {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}]}
)
class QuantityField(serializers.DecimalField):
    """A quantity or an amount in a request: a JSON number or a decimal string ("2", "2.5"), at
    most 14 digits before the point and 4 after it. Responses always carry decimal strings."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 4)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        """Strings are read by the one rule of every door (``common.numbers``), in its canonical
        form (a dot as the decimal mark, as ``DECIMAL_PATTERN`` says): ``"1_000"``, ``"1,000"``
        and ``"1e3"`` are refused with a message, never read as a number."""
        if isinstance(data, str):
            try:
                parse_decimal(data, places=self.decimal_places, decimal_comma=False)
            except NumberError as exc:
                raise serializers.ValidationError(str(exc), code="invalid") from exc
        return super().to_internal_value(data)


def decimal_string(value: Decimal) -> str:
    """A quantity as responses show it: a string with 4 decimal places."""
    return str(value.quantize(RESPONSE_STEP))

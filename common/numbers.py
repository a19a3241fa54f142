"""One reading of typed numbers for every door: the API, the clerk pages and the imports.

The rule (docs/api.md, "Numbers"; docs/imports.md):
- a number is an optional sign, digits, and an optional decimal mark followed by digits
  (``12``, ``2.5``, ``.5``, ``-3``); the decimal mark is a dot, or a single comma where people
  type (``2,5`` is two and a half on the floor and in imports);
- ``1,000`` (a comma followed by exactly three digits) is refused as ambiguous everywhere: one
  thousand to an English reader, one to a German one;
- no thousands separators (``1_000``, ``1.000,5``, ``1'000``), no scientific notation
  (``1e3``), no ``NaN`` or ``Infinity``: refused with a message that says how to write it;
- spaces inside (a spreadsheet's ``1 000``) are refused as well: the one exception would be
  a second rule;
- at most ``places`` decimal places and fewer than ``10**integer_digits`` in size.

No door reads the same text as a different number than another door. Digits are ASCII digits
(``0-9``), never another script's. The API is stricter: its schema promises the canonical form,
so it passes ``decimal_comma=False``, which also refuses ``2,5`` (a comma), ``+1`` (a plus sign)
and `` 1 `` (spaces around) instead of reading them.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError


def plain(value: Decimal) -> str:
    """A quantity with no trailing zeros, never in exponent notation: 15.0000 -> '15', 1E+1 -> '10'."""
    return f"{value.normalize():f}"


# ASCII digits only: Python's \d also matches other scripts' digits ("١٢", full-width "１０").
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")
_SCIENTIFIC = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)[eE][+-]?[0-9]+")
_AMBIGUOUS = re.compile(r"[+-]?[0-9]{1,3},[0-9]{3}")


class NumberError(ValueError):
    """A text that is not a number by the rule above; ``str()`` says why and how to write it,
    ``reason`` says which rule refused it (doors that word their own message decide on it)."""

    NOT_A_NUMBER = "not_a_number"
    AMBIGUOUS = "ambiguous"
    PLACES = "places"
    TOO_LARGE = "too_large"

    def __init__(self, message: str, reason: str = NOT_A_NUMBER) -> None:
        super().__init__(message)
        self.reason = reason


def parse_decimal(
    text: str,
    *,
    places: int = 4,
    integer_digits: int = 14,
    decimal_comma: bool = True,
) -> Decimal:
    """``text`` (surrounding white space ignored, except in the canonical form that
    ``decimal_comma=False`` asks for) as a ``Decimal``, or ``NumberError``."""
    value = (text or "").strip()
    shown = repr(value)
    if not value:
        raise NumberError("is empty: write a number such as 12 or 2.5.")
    if not decimal_comma and (value != text or value.startswith("+")):
        raise NumberError(f"{text!r} is not a number: write digits, an optional minus sign and a dot (-2.5).")
    if not _NUMBER.fullmatch(value):
        if _SCIENTIFIC.fullmatch(value):
            raise NumberError(f"{shown} is in scientific notation: write it as a plain number (1000, not 1e3).")
        raise NumberError(f"{shown} is not a number: write it like 12.5, without thousands separators.")
    if "," in value:
        if not decimal_comma:
            raise NumberError(f"{shown} is not a number: use a dot as the decimal mark (2.5).")
        if _AMBIGUOUS.fullmatch(value):
            raise NumberError(
                f"{shown} is ambiguous: write one thousand as 1000 and one as 1.000 or 1.",
                NumberError.AMBIGUOUS,
            )
        value = value.replace(",", ".")
    if len(value.partition(".")[2].rstrip("0")) > places:
        raise NumberError(f"{shown} has more than {places} decimal places.", NumberError.PLACES)
    try:
        number = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
        raise NumberError(f"{shown} is not a number.") from exc
    if abs(number) >= Decimal(10) ** integer_digits:
        raise NumberError(
            f"{shown} is too large: at most {integer_digits} digits before the decimal mark.", NumberError.TOO_LARGE
        )
    return number


class DecimalNumberField(forms.DecimalField):
    """A form's decimal field read by the rule above (Django's own would read ``"1_000"`` and
    ``"1e3"`` as one thousand, since Python's ``Decimal`` does). The admin uses it for every
    model ``DecimalField`` (``CatalogConfig.ready``); other forms name it. Limits (digits,
    places, minimum) stay Django's validators."""

    def prepare_value(self, value: object) -> object:
        """A stored value as people write it in the input: 3, not 3.0000 (the columns keep 4
        places; the unit's own places are checked when the form is saved)."""
        if isinstance(value, Decimal) and value.is_finite():
            return plain(value)
        return value

    def to_python(self, value: object) -> Decimal | None:  # type: ignore[override]  # the stubs give DecimalField IntegerField's int
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal):
            return value
        try:
            return parse_decimal(str(value), places=28, integer_digits=28)
        except NumberError as exc:
            raise ValidationError(str(exc), code="invalid") from exc


def money_text(value: Decimal | int) -> str:
    """An amount for people: two decimals, thousands grouped, the currency after it
    (``1,234.50 EUR``). For pages and mails only; files and the API keep the exact figure."""
    from django.conf import settings

    return f"{Decimal(value):,.2f} {settings.CURRENCY}"

"""Parsing what the clerk pages receive: scans, quantities, dates and reason codes.

A barcode scanner types like a keyboard and presses Enter, so every input arrives as text. The
functions here say what a text is, without writing anything:

- ``scan_resolve`` recognises any known code for what it is: what ``stock.selectors.code_lookup``
  says (a bin, an item, a lot: the API's rule too), else a reason code;
- ``parse_quantity`` and ``parse_date`` read what was typed, with messages that say what to do;
- ``floor_text`` applies the input-hygiene rule (``common.hygiene``) to one input, and
  ``new_lot_code`` to a lot code nobody knows yet (its column's length too).

The floor engine and pages (``stock/floor/``) call these and the services; nothing here touches the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Sum

from catalog.models import Item, Location, Warehouse, normalize_code
from common.hygiene import text_problem
from common.numbers import NumberError, parse_decimal
from stock.models import Lot, StockLevel
from stock.selectors import code_lookup


class FloorError(Exception):
    """A refusal shown to the clerk: what happened and what to do. Nothing was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def floor_text(raw: str | None, *, label: str) -> str:
    """One input of a floor page (a scan, a hidden step, a look-up code), stripped; FloorError
    naming ``label`` when it holds what no scanner types (a NUL character, a lone surrogate).
    Checked before anything reads the database with it (PostgreSQL refuses NUL: a 500)."""
    text = (raw or "").strip()
    problem = text_problem(text)
    if problem is not None:
        raise FloorError(f"{label}: what was sent {problem}. Scan the label again.")
    return text


LOT_CODE_MAX = Lot._meta.get_field("code").max_length


def new_lot_code(text: str) -> str:
    """A new lot's code as the clerk typed or scanned it, checked against its column before the
    database sees it; FloorError naming the Lot step otherwise."""
    problem = text_problem(text, max_length=LOT_CODE_MAX)
    if problem is not None:
        raise FloorError(f"Lot: the new lot code {problem}. Type the lot number on the label.")
    return text


@dataclass(frozen=True)
class Reason:
    code: str
    label: str
    kind: str  # "scrap" or "adjustment" (AdjustmentRequestKind)
    sign: int  # -1 takes stock out of the bin, +1 brings it in
    help: str


# The reason codes of the scrap / adjust page. Each can be scanned (a printed sheet with
# ``REASON-DAMAGED`` etc.), typed, or tapped; the reason decides what is posted.
REASONS: dict[str, Reason] = {
    reason.code: reason
    for reason in (
        Reason("DAMAGED", "Damaged", "scrap", -1, "Broken or unsellable: goes to scrap"),
        Reason("EXPIRED", "Expired", "scrap", -1, "Past its date: goes to scrap"),
        Reason("MISSING", "Missing", "adjustment", -1, "Fewer in the bin than the system says"),
        Reason("FOUND", "Found", "adjustment", +1, "More in the bin than the system says"),
    )
}


def reason_of(text: str) -> Reason | None:
    code = normalize_code(text).upper().removeprefix("REASON-")
    return REASONS.get(code)


@dataclass
class Scan:
    """What a scanned text is. ``kind`` is ``item``, ``location``, ``lot``, ``reason`` or
    ``unknown``; a lot scan also names its item. ``lots`` lists the candidates when a lot code
    belongs to several items."""

    raw: str
    kind: str = "unknown"
    item: Item | None = None
    location: Location | None = None
    lot: Lot | None = None
    reason: Reason | None = None
    lots: list[Lot] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "location":
            return f"bin {self.location.code}" + (
                f" of warehouse {self.location.warehouse.code}" if self.location.warehouse_id else ""
            )
        if self.kind == "item":
            return f"item {self.item.sku} ({self.item.name})"
        if self.kind == "lot":
            return f"lot {self.lot.code} of {self.lot.item.sku}"
        if self.kind == "reason":
            return f"reason {self.reason.label}"
        return f'"{self.raw}"'


def scan_resolve(raw: str, *, warehouse: Warehouse, item: Item | None = None) -> Scan:
    """Recognise a scanned or typed code: what ``stock.selectors.code_lookup`` says it names (the
    one look-up rule the API shares: a bin's barcode, an item, a lot of ``item``, a bin code of
    ``warehouse``, a lot of any item), else a reason code (the floor's own: ``REASON-DAMAGED``)."""
    text = (raw or "").strip()
    scan = Scan(raw=text)
    if not text or text_problem(text) is not None:  # never queried: see floor_text
        return scan
    match = code_lookup(text, warehouse=warehouse, item=item)
    if match.kind != "unknown":
        scan.kind, scan.item, scan.location, scan.lot = match.kind, match.item, match.location, match.lot
        scan.lots = list(match.lots)
        return scan
    reason = reason_of(text)
    if reason is not None:
        scan.kind, scan.reason = "reason", reason
    return scan


def unknown_code_message(raw: str) -> str:
    return (
        f'Unknown barcode "{raw}": no item, bin or lot has it. Check that you scanned the right label; '
        "if it is right, ask the office to add it."
    )


def parse_quantity(raw: str, *, whole: bool = False, zero: bool = False) -> Decimal:
    """A positive quantity typed as ``3``, ``2.5`` or ``2,5`` (``common.numbers``: one rule for
    every door, so ``1,000`` is refused as ambiguous, not read as 1); FloorError says what is wrong.
    ``zero``: 0 is a quantity too (a count that found none); negative never is."""
    text = (raw or "").strip()
    digits = text.lstrip("+-")
    if digits.isdigit() and len(digits) > 7:  # a long number is a barcode nobody knows
        raise FloorError(f'"{text}" is not a known barcode, and too large for a quantity: type the quantity.')
    try:
        number = parse_decimal(text, integer_digits=7)
    except NumberError as exc:
        if exc.reason == NumberError.NOT_A_NUMBER:
            raise FloorError(f'"{text}" is not a quantity: type a number such as 3 or 2.5.') from exc
        raise FloorError(f"{exc} Type the quantity, such as 3 or 2.5.") from exc
    if number < 0 and zero:
        raise FloorError("The quantity cannot be negative: type 0 if there is none.")
    if number < 0 or (number == 0 and not zero):
        raise FloorError("The quantity must be more than zero.")
    if whole and number != number.to_integral():
        raise FloorError(f"{text} is not a whole number: this item is counted in whole units.")
    return number


_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%y%m%d")


def parse_date(raw: str) -> date:
    """An expiry date as typed or scanned: 2026-12-31, 20261231, 31-12-2026, 31.12.2026,
    31/12/2026, or 261231 (YYMMDD, as in GS1 application identifier 17)."""
    text = (raw or "").strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    raise FloorError(f'"{text}" is not a date: type it as YYYY-MM-DD (2026-12-31) or scan it (YYMMDD).')


def lots_in_bin(item: Item, location: Location) -> list[tuple[Lot, Decimal]]:
    """The lots of ``item`` with stock on hand at ``location``, first expiry first."""
    rows = (
        StockLevel.objects.filter(item=item, location=location, lot__isnull=False, on_hand__gt=0)
        .values("lot_id")
        .annotate(on_hand=Sum("on_hand"))
    )
    amounts = {row["lot_id"]: row["on_hand"] for row in rows}
    lots = Lot.objects.filter(pk__in=amounts).order_by("expiry_date", "code")
    return [(lot, amounts[lot.pk]) for lot in lots]


class FloorLoginForm(AuthenticationForm):
    """Django's login form with inputs sized for the floor (big, no autocorrect), and one plain
    sentence for a wrong user name or password (the page shows only the form's own errors)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Check your user name and password and try again: one of them is not right (capitals count).",
    }

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autocapitalize": "none", "autocorrect": "off", "spellcheck": "false", "class": "scan-input"}
        )
        self.fields["password"].widget.attrs.update({"class": "scan-input"})

"""The Pick job's "Report short" (docs/floor.md, "Report a bin short"): the clerk, sent to a bin by
the pick's proposal, finds fewer there than the book says. They tap "Report short" on that bin
(and lot) of the proposal, type how many are there (0 if none) and tap Confirm: that records a
short pick for the count plan (``stock.services.short_pick_record``: ``asked`` is the bin's book
on hand, ``available`` what the clerk found; once per item, bin, lot and local day, so a second
report the same day, or the form sent twice, records nothing new). Nothing moves.

The pick then goes on with the same item: from that bin, at most what was found, when something
was there; else, or for the rest, from a bin the clerk scans. A pick without a bin is refused
while the report is carried, because the product would pick by the book, from the short bin first.

While reporting, the quantity step holds a ``ShortBin`` (an action, not a quantity) and the job's
steps become: item, the bin reported, how many are there (``found``), Confirm. Every value is
re-read from the database on every request (the engine's rule); the book quantity too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from catalog.models import Item, Location
from catalog.units import format_quantity
from stock.models import Lot, ShortPick
from stock.selectors import stock_on_hand

from .engine import State, Step, Value, check_bin
from .scanning import FloorError, parse_quantity

SHORT = "SHORT:"  # the proposal's button: SHORT:<bin id>:<lot id or 0>
CONFIRM = "CONFIRM"


@dataclass(frozen=True)
class ShortBin:
    """The bin (and lot) being reported short, with its book on hand read now."""

    location: Location
    lot: Lot | None
    book: Decimal


def _where(location: Location, lot: Lot | None) -> str:
    return f"{location.code}" + (f" (lot {lot.code})" if lot is not None else "")


def _qty(value: Decimal, item: Item) -> str:
    return format_quantity(value, item.base_unit, with_unit=False)


def reporting(st: State) -> ShortBin | None:
    short = st.get("quantity")
    return short if isinstance(short, ShortBin) else None


def short_steps(st: State, item_step: Step) -> list[Step]:
    short = reporting(st)
    assert short is not None
    item: Item = st.get("item")
    where = _where(short.location, short.lot)
    return [
        item_step,
        Step("quantity", "short", "Report short", f"Report {where} short"),
        Step(
            "found",
            "found",
            "Found",
            f"How many {item.sku} are there in {where}? ({item.base_unit.code}; 0 if none)",
        ),
        Step("confirm", "confirm", "Confirm", f"Tap Confirm to report {where} short, or Start over"),
    ]


def short_value(st: State, payload: str) -> Value:
    """The bin (``<bin id>:<lot id or 0>``) the clerk reports short, checked."""
    item: Item | None = st.get("item")
    if item is None:
        raise FloorError("Scan the item first, then report its bin short.")
    try:
        location_id, lot_id = (int(part) for part in payload.split(":"))
        location = Location.objects.select_related("warehouse").get(pk=location_id)
        lot = Lot.objects.select_related("item").get(pk=lot_id) if lot_id else None
    except (ValueError, Location.DoesNotExist, Lot.DoesNotExist):
        raise FloorError("Report short: tap the button of the bin again.") from None
    check_bin(location, st.warehouse)
    if lot is not None and lot.item_id != item.pk:
        raise FloorError(f"Lot {lot.code} is of {lot.item.sku}, not {item.sku}.")
    book = stock_on_hand(item=item, location=location, lot=lot, include_sublocations=False).on_hand
    if book <= 0:
        raise FloorError(
            f"The book has no {item.sku} in {_where(location, lot)}: there is nothing to report short. "
            "Pick from another bin."
        )
    text = f"{_where(location, lot)}: the book has {_qty(book, item)}"
    return Value(f"short:{location.pk}:{lot.pk if lot else 0}", ShortBin(location, lot, book), text)


def found_value(st: State, raw: str) -> Value:
    item: Item = st.get("item")
    found = parse_quantity(raw, zero=True)
    return Value(format(found.normalize(), "f"), found, f"{_qty(found, item)} {item.base_unit.code}")


def confirm_value(st: State, raw: str) -> Value:
    if raw.strip().upper() != CONFIRM:
        short = reporting(st)
        where = _where(short.location, short.lot) if short else "the bin"
        raise FloorError(f"Tap Confirm to report {where} short, or Start over to pick without reporting it.")
    return Value("confirm", True, "Yes")


def check_short(st: State) -> None:
    """What the clerk found must be less than the book: otherwise it is not short."""
    short, found, item = reporting(st), st.get("found"), st.get("item")
    if short is None or found is None or item is None:
        return
    if found >= short.book:
        raise FloorError(
            f"The book has {_qty(short.book, item)} {item.sku} in {_where(short.location, short.lot)} and you "
            f"found {_qty(found, item)}: that is not short. Pick from it as usual (Start over)."
        )


def reported_value(st: State, raw: str) -> Value:
    """A report carried on after it was recorded (``sp:<short pick id>``): the clerk's own, in this
    warehouse, today. It leaves a note saying how the pick goes on."""
    try:
        record = ShortPick.objects.select_related("item__base_unit", "location", "lot").get(
            pk=int(raw.removeprefix("sp:")),
            by=st.user,
            warehouse=st.warehouse,
            day=timezone.localdate(),
        )
    except (ValueError, ShortPick.DoesNotExist):
        raise FloorError("The short report is not today's: start the pick again.") from None
    item, where = record.item, _where(record.location, record.lot)
    found = _qty(record.available, item)
    st.notes.append(
        f"{where} reported short of {item.sku} (found {found}, the book has {_qty(record.asked, item)}): "
        "the next count plan counts it first."
        + (
            f" Type how many you take from {record.location.code} (at most {found}), or change the bin."
            if record.available > 0
            else " Scan the bin you take from instead."
        )
    )
    return Value(raw, record, where, f"found {found}")


def check_after_report(st: State) -> None:
    """After a report the pick needs a bin (by the book it would start at the short one), and
    takes from the short bin at most what was found there."""
    record: ShortPick | None = st.get("reported")
    quantity, location, lot = st.get("quantity"), st.get("pick_bin"), st.get("pick_lot")
    if record is None or not isinstance(quantity, Decimal):
        return
    if location is None:
        raise FloorError(
            f"Scan the bin you take from: {record.location.code} was reported short, and a pick without a bin "
            "would take from the book's first bin."
        )
    same_lot = lot is None or record.lot_id is None or lot.pk == record.lot_id
    if location.pk == record.location_id and same_lot and quantity > record.available:
        found = _qty(record.available, record.item)
        raise FloorError(
            f"You found {found} in {record.location.code}: take at most {found} from there, "
            "and scan another bin for the rest."
        )

"""The built-in floor jobs: receive, move, pick, scrap / adjust (docs/floor.md). Each says its
steps, checks the filled steps together (early, clear messages: the services check again under
lock) and posts through ``stock.services``. ``StockConfig.ready`` calls ``register_builtin_jobs``,
which puts them into ``stock.floor.engine``'s registry in this order (the home page's order)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from catalog.models import Item, Location, Warehouse
from catalog.permissions import WarehouseAction, warehouse_allows
from catalog.units import format_quantity
from stock.models import Lot, StockLevel
from stock.selectors import stock_by_location, stock_levels_available_fefo, stock_on_hand
from stock.services import (
    InsufficientStock,
    adjustment_submit,
    short_pick_from_refusal,
    short_pick_record,
    stock_issue,
    stock_receive,
    stock_transfer,
)

from . import short_report
from .engine import Job, NewLot, State, Step, Value, blind_bins, check_bin, mark_count_open, quantity_step, register_job
from .scanning import REASONS, FloorError, Reason, lots_in_bin


def _available(item: Item, location: Location, lot: Lot | None) -> Decimal:
    return stock_on_hand(item=item, location=location, lot=lot, include_sublocations=False).available


def _where_else(item: Item, warehouse: Warehouse, exclude: Location | None = None) -> str:
    bins = (
        StockLevel.objects.filter(item=item, location__warehouse=warehouse, on_hand__gt=F("reserved"))
        .exclude(location=exclude)
        .values_list("location__code", flat=True)
        .distinct()
        .order_by("location__code")[:4]
    )
    bins = list(bins)
    return f" It is in {', '.join(bins)}." if bins else f" There is none available in {warehouse.code}."


def _counted_blind(location: Location) -> bool:
    """Is ``location`` under an open blind count (``engine.blind_bins``)? Then the floor tells
    no quantity of it, not even in a refusal."""
    return location.pk in blind_bins(location.warehouse)


def _too_much(item: Item, location: Location | Warehouse, lot: Lot | None, asked: Decimal, available: Decimal) -> str:
    """The refusal of a quantity above what is available, with the figure ("Enter 3 or less.")."""
    message = InsufficientStock(item=item, location=location, lot=lot, asked=asked, available=available).message
    return f"{message} Enter {format_quantity(available, item.base_unit, with_unit=False)} or less."


def _too_much_counted(item: Item, where: str) -> str:
    """The same refusal where a blind count is open: without the figure."""
    return (
        f"Not enough {item.sku} available in {where} for that quantity. A count is open there, so the floor "
        "does not show its quantity: take less, or from another bin."
    )


def _check_in_bin(item: Item, location: Location, lot: Lot | None, warehouse: Warehouse) -> None:
    if _counted_blind(location):
        return  # "nothing there" would tell the counted bin's book; the quantity check still refuses
    if _available(item, location, None) <= 0:
        raise FloorError(
            f"{item.sku} is not in bin {location.code} (nothing available there). "
            f"Scan the bin where it is.{_where_else(item, warehouse, exclude=location)}"
        )
    if lot is not None and _available(item, location, lot) <= 0:
        here = ", ".join(found.code for found, _ in lots_in_bin(item, location)) or "none"
        raise FloorError(f"Lot {lot.code} of {item.sku} is not in bin {location.code}. Lots there: {here}.")


def _check_quantity(item: Item, location: Location, lot: Lot | None, quantity: Decimal) -> None:
    available = _available(item, location, lot)
    if quantity > available:
        if _counted_blind(location):
            raise FloorError(_too_much_counted(item, f"bin {location.code}"))
        raise FloorError(_too_much(item, location, lot, quantity, available))


class ReceiveJob(Job):
    slug = "receive"
    title = "Receive"
    blurb = "Goods in without an order: item, quantity, lot, bin"
    done_verb = "Received"
    new_lots = True

    def steps(self, st: State) -> list[Step]:
        steps = [Step("item", "item", "Item", "Scan the item"), quantity_step(st)]
        if self.tracked(st):
            steps.append(Step("lot", "lot", "Lot", "Scan or type the lot number"))
            if isinstance(st.get("lot"), NewLot):
                steps.append(Step("expiry", "date", "Expiry", "Type the expiry date", hint=self._expiry_hint(st)))
        steps.append(Step("destination", "bin", "Into bin", "Scan the bin you put it in"))
        return steps

    def _default_expiry(self, st: State) -> date | None:
        item = st.get("item")
        if item is not None and item.perishable and item.shelf_life_days:
            return timezone.localdate() + timedelta(days=item.shelf_life_days)
        return None

    def _expiry_hint(self, st: State) -> str:
        default = self._default_expiry(st)
        if default is not None:
            return f"Enter without a date for {default.isoformat()} ({st.get('item').shelf_life_days} days shelf life)."
        if not st.get("item").perishable:
            return "Enter without a date if it has none."
        return "YYYY-MM-DD, or scan it."

    def blank_ok(self, st: State, step: Step) -> Value | None:
        if step.name == "expiry":
            default = self._default_expiry(st)
            if default is not None:
                return Value(default.isoformat(), default, f"{default.isoformat()} (shelf life)")
            if not st.get("item").perishable:
                return Value("none", None, "none")
        return None

    def validate(self, st: State) -> None:
        item, lot, expiry = st.get("item"), st.get("lot"), st.get("expiry")
        today = timezone.localdate()
        if item is not None and item.status != "active":
            raise FloorError(f"{item.sku} is discontinued: it cannot be received. Set it aside and tell the office.")
        if st.has("lot") and not self.tracked(st):
            st.values.pop("lot", None)
        if isinstance(lot, Lot) and lot.expiry_date is not None and lot.expiry_date < today:
            raise FloorError(
                f"Lot {lot.code} of {item.sku} expired on {lot.expiry_date.isoformat()}: do not receive expired "
                "goods. Set them aside and tell the office."
            )
        if isinstance(expiry, date) and expiry < today:
            raise FloorError(
                f"That date ({expiry.isoformat()}) has passed: lot {lot.code} is expired. Do not receive expired "
                "goods; set them aside and tell the office. If you typed the date wrong, type it again."
            )
        if st.has("destination"):
            check_bin(st.get("destination"), st.warehouse)

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        lot = st.get("lot")
        stock_receive(
            item=st.get("item"),
            location=st.get("destination"),
            quantity=st.get("quantity"),
            actor=actor,
            lot=lot.code if isinstance(lot, NewLot) else lot,
            expiry_date=st.get("expiry"),
            idempotency_key=idempotency_key,
        )


class MoveJob(Job):
    slug = "move"
    title = "Move"
    blurb = "Put away or move: from bin, item, quantity, to bin"
    done_verb = "Moved"

    def steps(self, st: State) -> list[Step]:
        steps = [
            Step("source", "bin", "From bin", "Scan the bin you take it from"),
            Step("item", "item", "Item", "Scan the item"),
        ]
        if self.tracked(st):
            steps.append(Step("lot", "lot", "Lot", "Scan the lot"))
        steps += [quantity_step(st), Step("destination", "bin", "To bin", "Scan the bin you put it in")]
        return steps

    def autofill(self, st: State) -> None:
        self._autofill_lot(st, "source")

    def validate(self, st: State) -> None:
        source, destination, item = st.get("source"), st.get("destination"), st.get("item")
        lot, quantity = st.get("lot"), st.get("quantity")
        for name in ("source", "destination"):
            if st.has(name):
                check_bin(st.get(name), st.warehouse)
        if source is not None and destination is not None and source.pk == destination.pk:
            raise FloorError(f"{destination.code} is the bin you take it from: scan the bin you put it in.")
        if source is not None and item is not None:
            _check_in_bin(item, source, lot, st.warehouse)
            if quantity is not None and (lot is not None or not self.tracked(st)):
                _check_quantity(item, source, lot, quantity)

    def context_for(self, st: State) -> dict:
        source, item = st.get("source"), st.get("item")
        if source is not None and item is None:
            contents = list(stock_by_location(location=source))[:12]
            mark_count_open(contents, blind_bins(st.warehouse))
            return {"bin_contents": contents, "bin": source}
        if source is not None and item is not None and not st.has("quantity"):
            if _counted_blind(source):
                return {"count_open_here": True, "bin": source}
            return {"available_here": _available(item, source, st.get("lot")), "bin": source, "unit": item.base_unit}
        return {}

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        stock_transfer(
            item=st.get("item"),
            quantity=st.get("quantity"),
            source=st.get("source"),
            destination=st.get("destination"),
            lot=st.get("lot"),
            actor=actor,
            idempotency_key=idempotency_key,
        )


class PickJob(Job):
    slug = "pick"
    title = "Pick"
    blurb = "Pick or issue: scan the item, take what the page shows"
    done_verb = "Picked"

    carry = ("item", "pick_bin", "pick_lot", "reported")  # only after a short report (``carried``)

    def steps(self, st: State) -> list[Step]:
        item_step = Step("item", "item", "Item", "Scan the item")
        if short_report.reporting(st):
            return short_report.short_steps(st, item_step)
        return [
            item_step,
            quantity_step(st),
            Step("pick_bin", "bin", "From bin", "", optional=True),
            Step("pick_lot", "lot", "Lot", "", optional=True),
            Step("reported", "reported", "Reported short", "", optional=True),
        ]

    def carried(self, st: State) -> tuple[str, ...]:
        """A pick posts and the next form is empty; a short report keeps the pick going."""
        return tuple(n for n in self.carry if st.has(n)) if short_report.reporting(st) else ()

    def read(self, st: State, step: Step, text: str) -> Value | None:
        word = text.strip()
        if step.name == "quantity" and word.upper().startswith(short_report.SHORT):
            return short_report.short_value(st, word[len(short_report.SHORT) :])
        if step.name == "found":
            return short_report.found_value(st, word)
        if step.name == "confirm":
            return short_report.confirm_value(st, word)
        return None

    def decode(self, st: State, step: Step, raw: str) -> Value | None:
        if step.name == "quantity" and raw.startswith("short:"):
            return short_report.short_value(st, raw.removeprefix("short:"))
        if step.name == "found":
            return short_report.found_value(st, raw)
        if step.name == "confirm":
            return short_report.confirm_value(st, raw)
        if step.name == "reported":
            return short_report.reported_value(st, raw)
        return None

    def _scope(self, st: State) -> tuple[Location | None, Lot | None]:
        return st.get("pick_bin"), st.get("pick_lot")

    def validate(self, st: State) -> None:
        if short_report.reporting(st):
            short_report.check_short(st)
            return
        short_report.check_after_report(st)
        item, quantity = st.get("item"), st.get("quantity")
        location, lot = self._scope(st)
        today = timezone.localdate()
        if location is not None:
            check_bin(location, st.warehouse)
        if lot is not None and item is not None and lot.item_id != item.pk:
            raise FloorError(f"Lot {lot.code} is of {lot.item.sku}, not {item.sku}.")
        if lot is not None and lot.expiry_date is not None and lot.expiry_date < today:
            raise FloorError(
                f"Lot {lot.code} of {lot.item.sku} expired on {lot.expiry_date.isoformat()}: it cannot be picked. "
                "Scrap it (Scrap / adjust, reason Expired) and pick another lot."
            )
        if item is None:
            return
        levels = stock_levels_available_fefo(item=item, warehouse=st.warehouse, location=location, lot=lot)
        where = f"bin {location.code}" if location else f"warehouse {st.warehouse.code}"
        if not levels:
            expired = (
                StockLevel.objects.filter(item=item, location__warehouse=st.warehouse, on_hand__gt=0)
                .filter(lot__expiry_date__lt=today)
                .select_related("lot", "location")
            )
            if lot is None and location is None and expired.exists():
                first = expired.first()
                raise FloorError(
                    f"All {item.sku} in {st.warehouse.code} is expired (lot {first.lot.code}, expired "
                    f"{first.lot.expiry_date.isoformat()}, in {first.location.code}): nothing can be picked. "
                    "Scrap it under Scrap / adjust."
                )
            if location is not None and quantity is not None:
                self._short(st, location, lot, quantity, Decimal(0))
            if location is not None and _counted_blind(location):
                raise FloorError(_too_much_counted(item, where))
            raise FloorError(f"No {item.sku} is available in {where}." + _where_else(item, st.warehouse, location))
        if quantity is not None:
            available = sum((level.available for level in levels), Decimal(0))
            if quantity > available:
                if location is not None:
                    self._short(st, location, lot, quantity, available)
                if mark_count_open(levels, blind_bins(st.warehouse)):  # a counted bin's book is in the sum
                    raise FloorError(_too_much_counted(item, where))
                raise FloorError(_too_much(item, location or st.warehouse, lot, quantity, available))

    @staticmethod
    def _report_short(st: State, short: short_report.ShortBin, *, actor) -> None:  # noqa: ANN001
        """Record the clerk's report (the book re-read now); the next form goes on with the item,
        and with the bin when something was found there (``carried``)."""
        item = st.get("item")
        book = stock_on_hand(item=item, location=short.location, lot=short.lot, include_sublocations=False).on_hand
        found = st.get("found")
        record = short_pick_record(
            item=item,
            location=short.location,
            lot=short.lot,
            asked=book,
            available=found,
            actor=actor,
            source="floor",
        )
        st.values["reported"] = Value(f"sp:{record.pk}", record, short.location.code)
        if found > 0:
            st.values["pick_bin"] = Value(f"loc:{short.location.pk}", short.location, short.location.code)
            if short.lot is not None:
                st.values["pick_lot"] = Value(f"lot:{short.lot.pk}", short.lot, short.lot.code)

    @staticmethod
    def _short(st: State, location: Location, lot: Lot | None, asked: Decimal, available: Decimal) -> None:
        """The named bin has less than asked: record the short pick (once a day per bin, item and
        lot) for the count plan; the refusal that follows posts nothing. Only for a clerk who may
        pick here (one who may not is refused anyway)."""
        if warehouse_allows(st.user, st.warehouse, WarehouseAction.POST) and st.user.has_perm("stock.add_movement"):
            short_pick_record(
                item=st.get("item"),
                location=location,
                lot=lot,
                asked=asked,
                available=available,
                actor=st.user,
                source="floor",
            )

    def context_for(self, st: State) -> dict:
        item = st.get("item")
        if item is None:
            return {}
        if short := short_report.reporting(st):
            return {
                "panel": "floor/_pick_short.html",
                "short": short,
                "found": st.get("found"),
                "confirming": st.has("found") and not st.has("confirm"),
                "unit": item.base_unit,
            }
        location, lot = self._scope(st)
        levels = stock_levels_available_fefo(item=item, warehouse=st.warehouse, location=location, lot=lot)
        mark_count_open(levels, blind_bins(st.warehouse))  # shown as "count open", without a quantity
        return {
            "proposal": levels[:6],
            "today": timezone.localdate(),
            "unit": item.base_unit,
            "short_report": not st.has("quantity"),  # the proposal's bins get a "Report short" button
        }

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        if short := short_report.reporting(st):
            self._report_short(st, short, actor=actor)
            return
        location, lot = self._scope(st)
        try:
            stock_issue(
                item=st.get("item"),
                quantity=st.get("quantity"),
                actor=actor,
                warehouse=st.warehouse,
                location=location,
                lot=lot,
                idempotency_key=idempotency_key,
            )
        except InsufficientStock as exc:  # taken meanwhile: the bin came up short after all
            short_pick_from_refusal(exc, actor=actor, source="floor")
            raise


class ScrapJob(Job):
    slug = "scrap"
    title = "Scrap / adjust"
    blurb = "Damaged, expired, missing or found: reason, bin, item, quantity"
    done_verb = "Posted"

    def steps(self, st: State) -> list[Step]:
        steps = [
            Step("reason", "reason", "Reason", "What happened? Tap a reason or scan its code"),
            Step("bin", "bin", "Bin", "Scan the bin"),
            Step("item", "item", "Item", "Scan the item"),
        ]
        if self.tracked(st):
            steps.append(Step("lot", "lot", "Lot", "Scan the lot"))
        quantity = quantity_step(st)
        reason = st.get("reason")
        if reason is not None:
            question = {"FOUND": "How many did you find?"}.get(reason.code, f"How many are {reason.label.lower()}?")
            unit = quantity.prompt.removeprefix("Type the quantity")
            quantity = Step("quantity", "quantity", "Quantity", question + unit)
        steps.append(quantity)
        return steps

    def _taking_out(self, st: State) -> bool:
        reason = st.get("reason")
        return reason is None or reason.sign < 0

    def autofill(self, st: State) -> None:
        if self._taking_out(st):
            self._autofill_lot(st, "bin")

    def validate(self, st: State) -> None:
        location, item, lot, quantity = st.get("bin"), st.get("item"), st.get("lot"), st.get("quantity")
        if location is not None:
            check_bin(location, st.warehouse)
        if st.has("reason") and location is not None and item is not None and self._taking_out(st):
            _check_in_bin(item, location, lot, st.warehouse)
            if quantity is not None and (lot is not None or not self.tracked(st)):
                _check_quantity(item, location, lot, quantity)

    def context_for(self, st: State) -> dict:
        return {"reasons": list(REASONS.values())}

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        reason: Reason = st.get("reason")
        adjustment_submit(
            kind=reason.kind,
            item=st.get("item"),
            location=st.get("bin"),
            quantity_delta=reason.sign * st.get("quantity"),
            reason_code=reason.code,
            lot=st.get("lot"),
            actor=actor,
            idempotency_key=idempotency_key,
        )


def register_builtin_jobs() -> None:
    """Put the built-in jobs into the registry (``StockConfig.ready``; again is harmless)."""
    for job in (ReceiveJob(), MoveJob(), PickJob(), ScrapJob()):
        register_job(job)

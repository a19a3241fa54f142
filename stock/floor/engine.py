"""The floor's step engine: every job (receive, move, pick, scrap / adjust, an app's own) is a
short list of *steps* (scan the item, type the quantity, scan the bin...). The page shows the
steps filled so far and one scan field for the next. What was scanned is recognised for what it
is (``stock.floor.scanning.scan_resolve``) and goes to the step that takes it, so scanning in
another order works too. Filled steps travel as hidden fields and are re-read from the database
and re-checked on every request (``decode``: nothing is trusted from the browser).

Jobs live in a registry: ``stock.floor.jobs`` registers the built-in ones, apps above ``stock``
add theirs with ``register_job`` from their ``AppConfig.ready`` (``purchasing``'s receive-order),
so ``stock`` never imports them. Nothing here writes; a job's ``post`` calls ``stock.services``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils import timezone

from catalog.models import Item, Location, Tracking, Warehouse
from catalog.permissions import WarehouseAction
from catalog.units import quantity_problem
from common.numbers import plain
from stock.models import Lot, StockLevel

from .scanning import (
    REASONS,
    FloorError,
    Scan,
    lots_in_bin,
    new_lot_code,
    parse_date,
    parse_quantity,
    reason_of,
    scan_resolve,
    unknown_code_message,
)


def _fmt(value: Decimal | None) -> str:
    return "" if value is None else plain(value)


# --- The step engine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing a job needs. ``kind``: item, bin, lot, quantity, date or reason. An
    ``optional`` step is never asked for; a recognised scan may fill it (pick from this bin)."""

    name: str
    kind: str
    label: str
    prompt: str
    optional: bool = False
    hint: str = ""


@dataclass(frozen=True)
class NewLot:
    code: str


@dataclass
class Value:
    raw: str  # what the hidden field carries
    obj: object
    text: str  # what the page shows
    detail: str = ""  # a second, smaller line (an item's name)


@dataclass
class State:
    warehouse: Warehouse
    user: object
    values: dict[str, Value] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, name: str):  # noqa: ANN201
        value = self.values.get(name)
        return value.obj if value is not None else None

    def has(self, name: str) -> bool:
        return name in self.values


def other_warehouse_message(location: Location, warehouse: Warehouse) -> str:
    if not location.is_internal:
        return f"{location} is not a bin in a warehouse: scan a bin of {warehouse.code}."
    return (
        f"Bin {location.code} is in warehouse {location.warehouse.code}; you are working in {warehouse.code}. "
        f"Scan a bin of {warehouse.code}, or change warehouse on the home page."
    )


def check_bin(location: Location, warehouse: Warehouse) -> None:
    if not location.is_internal or location.warehouse_id != warehouse.pk:
        raise FloorError(other_warehouse_message(location, warehouse))
    if not location.active:
        raise FloorError(f"Bin {location.code} is inactive: use another bin.")


def _unit(item: Item) -> str:
    return item.base_unit.code


def _item_value(item: Item) -> Value:
    return Value(f"item:{item.pk}", item, item.sku, item.name)


def _bin_value(location: Location) -> Value:
    return Value(f"loc:{location.pk}", location, location.code)


def _lot_text(lot: Lot, today: date | None = None) -> str:
    today = today or timezone.localdate()
    if lot.expiry_date is None:
        return lot.code
    state = "expired" if lot.expiry_date < today else "expires"
    return f"{lot.code} · {state} {lot.expiry_date.isoformat()}"


def _lot_value(lot: Lot | NewLot) -> Value:
    if isinstance(lot, NewLot):
        new_lot_code(lot.code)  # the column's length, no NUL: before anything shows or posts it
        return Value(f"new:{lot.code}", lot, f"{lot.code} · new lot")
    return Value(f"lot:{lot.pk}", lot, _lot_text(lot))


class Job:
    """A floor job: its steps, the checks between them, and the posting."""

    slug = ""
    title = ""
    blurb = ""
    done_verb = ""
    new_lots = False  # may a lot step take a code nobody knows (receiving a new lot)?
    action = WarehouseAction.POST  # the warehouse permission the job needs (catalog/permissions.py)
    zero_quantity = False  # may the quantity be 0 (a count that found none)?
    carry: tuple[str, ...] = ()  # steps the next form keeps after a posting (the order being received)

    def steps(self, st: State) -> list[Step]:
        raise NotImplementedError

    def validate(self, st: State) -> None:
        """Check the filled steps together; raise FloorError for the first problem."""

    def autofill(self, st: State) -> None:
        """Fill what follows from the rest (the only lot in the bin)."""

    def blank_ok(self, st: State, step: Step) -> Value | None:
        """The value of Enter on an empty field at ``step``, or None when something is needed."""
        return None

    def context_for(self, st: State) -> dict:
        return {}

    def read(self, st: State, step: Step, text: str) -> Value | None:
        """A job's own kind of step (a purchase order): what the clerk scanned or typed into
        it, or None to treat it like any other scan. Raise FloorError to refuse it."""
        return None

    def decode(self, st: State, step: Step, raw: str) -> Value | None:
        """A job's own kind of step back from its hidden field, re-read from the database."""
        return None

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        raise NotImplementedError

    def carried(self, st: State) -> tuple[str, ...]:
        """The steps the next form keeps after this posting (``carry`` unless the job says more
        precisely: a pick keeps its item only after a short report)."""
        return tuple(n for n in self.carry if st.has(n))

    def outcome(self, idempotency_key: str) -> dict | None:
        """What the form with this full key did, for a job whose posting leaves no movement or
        adjustment request behind (counting records count lines): ``{"done": True, "title": ...,
        "lines": [...]}`` for the result banner, also how a form sent again is recognised. None:
        the ledger's movements or the adjustment request under the key say it."""
        return None

    def tracked(self, st: State) -> bool:
        item = st.get("item")
        return item is not None and item.tracking != Tracking.NONE

    def _autofill_lot(self, st: State, bin_step: str) -> None:
        item, location = st.get("item"), st.get(bin_step)
        if self.tracked(st) and location is not None and not st.has("lot"):
            lots = lots_in_bin(item, location)
            if len(lots) == 1:
                st.values["lot"] = _lot_value(lots[0][0])
                st.notes.append(f"Lot {lots[0][0].code} is the only lot of {item.sku} in {location.code}.")


def quantity_step(st: State) -> Step:
    item = st.get("item")
    unit = f" ({_unit(item)})" if item is not None else ""
    return Step("quantity", "quantity", "Quantity", f"Type the quantity{unit}")


# slug -> job, in the home page's order: the built-in jobs (``stock.floor.jobs``, registered by
# ``StockConfig.ready``), then those of the apps above ``stock`` (their ``AppConfig.ready``).
JOBS: dict[str, Job] = {}


def register_job(job: Job) -> None:
    """Add a job of an app above ``stock`` (``purchasing`` registers receiving an order from its
    ``AppConfig.ready``), so the floor offers it without ``stock`` importing that app."""
    JOBS[job.slug] = job


# Sources of the bins whose book quantities the floor must not show (a blind count is open there):
# ``counting`` registers one from its ``AppConfig.ready``, so ``stock`` never imports it.
BlindBinSource = Callable[[Warehouse], Iterable[int]]
BLIND_BIN_SOURCES: list[BlindBinSource] = []


def register_blind_bins(source: BlindBinSource) -> None:
    """Add a source of bins (location ids of a warehouse) whose book quantities, and the
    movements that would reveal them, the floor hides while something counts them blind."""
    if source not in BLIND_BIN_SOURCES:
        BLIND_BIN_SOURCES.append(source)


def blind_bins(warehouse: Warehouse) -> frozenset[int]:
    """The bins of ``warehouse`` the floor shows without book quantities ("count open")."""
    return frozenset(pk for source in BLIND_BIN_SOURCES for pk in source(warehouse))


def mark_count_open(levels: Iterable[StockLevel], blind: frozenset[int]) -> list[str]:
    """Mark each level under a blind count (``level.count_open``: the page shows "count open"
    instead of its quantity); the codes of those bins."""
    for level in levels:
        level.count_open = level.location_id in blind  # type: ignore[attr-defined]
    return sorted({level.location.code for level in levels if level.location_id in blind})


def decode(step: Step, raw: str, st: State, job: Job) -> Value:
    """A hidden field back into a value, re-read from the database (never trusted)."""
    if (own := job.decode(st, step, raw)) is not None:
        return own
    try:
        if step.kind == "item" and raw.startswith("item:"):
            return _item_value(Item.objects.select_related("base_unit").get(pk=int(raw[5:])))
        if step.kind == "bin" and raw.startswith("loc:"):
            return _bin_value(Location.objects.select_related("warehouse").get(pk=int(raw[4:])))
        if step.kind == "lot" and raw.startswith("lot:"):
            lot = Lot.objects.select_related("item").get(pk=int(raw[4:]))
            item = st.get("item")
            if item is not None and lot.item_id != item.pk:
                raise FloorError(f"Lot {lot.code} is of {lot.item.sku}, not {item.sku}.")
            return _lot_value(lot)
        if step.kind == "lot" and raw.startswith("new:") and job.new_lots:
            return _lot_value(NewLot(raw[4:]))
    except (ValueError, Item.DoesNotExist, Location.DoesNotExist, Lot.DoesNotExist):
        pass
    if step.kind == "quantity":
        return _quantity_value(raw, st, zero=job.zero_quantity)
    if step.kind == "date":
        if raw == "none":
            return Value("none", None, "none")
        when = parse_date(raw)
        return Value(when.isoformat(), when, when.isoformat())
    if step.kind == "reason" and (reason := reason_of(raw)) is not None:
        return Value(reason.code, reason, reason.label)
    raise FloorError(f"{step.label}: please scan it again.")


def _quantity_value(raw: str, st: State, *, zero: bool = False) -> Value:
    item = st.get("item")
    quantity = parse_quantity(raw, whole=item is not None and item.tracking == Tracking.SERIAL, zero=zero)
    if item is not None and (problem := quantity_problem(item, quantity)):  # the unit's rule (catalog.units)
        raise FloorError(f"{problem} Enter {'a whole number' if not problem.decimal_places else 'fewer decimals'}.")
    unit = f" {_unit(item)}" if item is not None else ""
    return Value(_fmt(quantity), quantity, f"{_fmt(quantity)}{unit}")


def _accepts(step: Step, scan: Scan) -> bool:
    return (
        (step.kind == "item" and scan.kind in ("item", "lot"))
        or (step.kind == "bin" and scan.kind == "location")
        or (step.kind == "lot" and scan.kind == "lot")
        or (step.kind == "reason" and scan.kind == "reason")
    )


class Rollback:
    """Set values, and take them back if the checks that follow refuse."""

    def __init__(self, st: State) -> None:
        self.st, self.before = st, dict(st.values)

    def undo(self) -> None:
        self.st.values = self.before


def _set(st: State, job: Job, name: str, value: Value) -> None:
    st.values[name] = value
    job.validate(st)


def _route(st: State, job: Job, expected: Step, scan: Scan) -> None:
    """Put a recognised scan into the step that takes it: the expected one if it can, else the
    first empty one that can (scanning in another order works)."""
    if scan.kind == "lot" and scan.lots:
        items = ", ".join(sorted({lot.item.sku for lot in scan.lots}))
        raise FloorError(f"Lot {scan.raw} belongs to several items ({items}): scan the item first.")
    steps = job.steps(st)
    empty = [s for s in steps if not st.has(s.name) and _accepts(s, scan)]
    empty.sort(key=lambda s: (s is not expected and s.name != expected.name, s.optional))
    if not empty:
        if scan.kind == "item" and st.get("item") is not None and scan.item.pk == st.get("item").pk:
            return  # the same item again: nothing new
        prompt = expected.prompt[0].lower() + expected.prompt[1:]
        raise FloorError(f"That is {scan.describe()}; now {prompt}.")
    target = empty[0]
    if scan.kind == "location":
        check_bin(scan.location, st.warehouse)
        _set(st, job, target.name, _bin_value(scan.location))
    elif scan.kind == "reason":
        _set(st, job, target.name, Value(scan.reason.code, scan.reason, scan.reason.label))
    elif scan.kind == "item":
        _set(st, job, target.name, _item_value(scan.item))
    else:  # a lot: its item too
        item = st.get("item")
        if item is not None and scan.lot.item_id != item.pk:
            raise FloorError(
                f"Lot {scan.lot.code} is of {scan.lot.item.sku}, not {item.sku}: scan a lot of {item.sku}."
            )
        if item is None:
            st.values["item"] = _item_value(scan.item)
        lot_step = next((s for s in job.steps(st) if s.kind == "lot" and not st.has(s.name)), None)
        if lot_step is not None:
            st.values[lot_step.name] = _lot_value(scan.lot)
        job.validate(st)


def apply_input(st: State, job: Job, text: str) -> None:
    """Take what the clerk scanned or typed (or an empty Enter) into the expected step."""
    steps = job.steps(st)
    expected = next((s for s in steps if not s.optional and not st.has(s.name)), None)
    if expected is None:
        return
    if not text:
        value = job.blank_ok(st, expected)
        if value is not None:
            _set(st, job, expected.name, value)
        return
    if (own := job.read(st, expected, text)) is not None:
        _set(st, job, expected.name, own)
        return
    item = st.get("item")
    scan = scan_resolve(text, warehouse=st.warehouse, item=item)
    if expected.kind in ("quantity", "date") and scan.kind not in ("item", "location", "lot"):
        if expected.kind == "quantity":
            _set(st, job, "quantity", _quantity_value(text, st, zero=job.zero_quantity))
        else:
            when = parse_date(text)
            _set(st, job, expected.name, Value(when.isoformat(), when, when.isoformat()))
        return
    other_items_lot = scan.kind == "lot" and (scan.lots or (item is not None and scan.lot.item_id != item.pk))
    if expected.kind == "lot" and job.new_lots and item is not None and other_items_lot:
        scan = Scan(raw=text)  # another item's lot code: for this item it is a new lot
    if scan.kind == "unknown":
        if expected.kind == "lot" and job.new_lots and item is not None:
            _set(st, job, expected.name, _lot_value(NewLot(text)))
            return
        if expected.kind == "reason":
            codes = ", ".join(REASONS)
            raise FloorError(f'"{text}" is not a reason: tap one of the reasons below ({codes}).')
        if expected.kind == "lot" and item is not None:
            raise FloorError(f'{item.sku} has no lot "{text}". Scan the lot number on the label.')
        raise FloorError(unknown_code_message(text))
    _route(st, job, expected, scan)


def walk_steps(job: Job, st: State) -> Iterator[Step]:
    """A job's steps in order while the caller fills ``st``: steps appear as values do (the lot
    step once the item is known to be tracked), so the list is read again after each one."""
    seen: set[str] = set()
    while True:
        step = next((s for s in job.steps(st) if s.name not in seen), None)
        if step is None:
            return
        seen.add(step.name)
        yield step

"""The clerk pages (``/floor/``): scanner-first, server-rendered, one scan field per screen.

Every job (receive, move, pick, scrap / adjust) is a short list of *steps* (scan the item, type
the quantity, scan the bin...). The page shows the steps filled so far and one scan field for the
next; Enter sends it. What was scanned is recognised for what it is (``stock.forms.scan_resolve``)
and goes to the step that takes it, so scanning in another order works too. Filled steps travel
as hidden fields and are re-read and re-checked on every request (nothing is trusted from the
browser). When every step is filled the job posts through ``stock.services`` with
``actor=request.user`` and the idempotency key ``floor:<user id>:<uuid of the form>``, then
redirects (POST/redirect/GET) to the same job with the result on top and a fresh form.

Refusals (unknown barcode, item not in this bin, not enough available, no permission, lot
expired...) are shown in words that say what to do, and nothing is written: the checks here are
for early, clear messages; the services check again under lock and their ``StockError`` and
``WarehousePermissionDenied`` are shown the same way.

The warehouse chosen in the session is re-checked on every request (permissions can change).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import wraps
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_http_methods

from catalog.models import Item, Location, Tracking, Warehouse
from catalog.permissions import WarehouseAction, WarehousePermissionDenied, warehouse_allows, warehouses_for
from catalog.units import format_quantity, quantity_problem

from .forms import (
    REASONS,
    FloorError,
    FloorLoginForm,
    Reason,
    Scan,
    floor_text,
    lots_in_bin,
    new_lot_code,
    parse_date,
    parse_quantity,
    reason_of,
    scan_resolve,
    unknown_code_message,
)
from .labels import LABELS_PER_PAGE, Label, code128_svg, item_label, location_label
from .models import AdjustmentRequest, AdjustmentRequestStatus, Lot, Movement, MovementKind, StockLevel
from .selectors import stock_by_location, stock_by_lot, stock_levels_available_fefo, stock_on_hand
from .services import (
    InsufficientStock,
    StockError,
    adjustment_submit,
    movements_for_key,
    stock_issue,
    stock_receive,
    stock_transfer,
)

SESSION_WAREHOUSE = "floor_warehouse"
LOGIN_URL = reverse_lazy("floor:login")


def _fmt(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value.normalize():f}"


def idempotency_key_for(user, key: str) -> str:  # noqa: ANN001
    """The key a floor form posts with: one per user and form, so a double tap posts once."""
    return f"floor:{user.pk}:{key}"


# --- Session: sign in, choose a warehouse ---------------------------------------------------------


class FloorLoginView(auth_views.LoginView):
    template_name = "floor/login.html"
    authentication_form = FloorLoginForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse("floor:warehouse")


def floor_view(view):  # noqa: ANN001, ANN201 - a decorator
    """Signed in, with a chosen warehouse the user may still view stock in (re-checked on every
    request: a revoked grant sends the clerk back to the chooser, nothing written)."""

    @wraps(view)
    @login_required(login_url=LOGIN_URL)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # noqa: ANN002, ANN003
        pk = request.session.get(SESSION_WAREHOUSE)
        warehouse = Warehouse.objects.filter(pk=pk).first() if pk else None
        if (
            warehouse is None
            or not warehouse.active
            or not warehouse_allows(request.user, warehouse, WarehouseAction.VIEW)
        ):
            if warehouse is not None:
                messages.error(
                    request,
                    f"You may no longer work in warehouse {warehouse.code}: nothing was posted. "
                    "Choose a warehouse, or ask a manager for access.",
                )
            request.session.pop(SESSION_WAREHOUSE, None)
            back = request.get_full_path() if request.method == "GET" else ""
            return redirect(f"{reverse('floor:warehouse')}?{urlencode({'next': back})}" if back else "floor:warehouse")
        request.floor_warehouse = warehouse
        return view(request, *args, **kwargs)

    return wrapper


def _my_warehouses(user) -> list[Warehouse]:  # noqa: ANN001
    return list(warehouses_for(user, WarehouseAction.VIEW).filter(active=True).order_by("code"))


@login_required(login_url=LOGIN_URL)
@require_http_methods(["GET", "POST"])
def choose_warehouse(request: HttpRequest) -> HttpResponse:
    """The warehouses the user may work in (view stock); a single one is chosen at once."""
    warehouses = _my_warehouses(request.user)
    error = ""
    after = request.POST.get("next") or request.GET.get("next") or ""
    if not after.startswith("/floor/") or not url_has_allowed_host_and_scheme(after, {request.get_host()}):
        after = reverse("floor:home")
    if request.method == "POST":
        wanted = (request.POST.get("choice") or request.POST.get("scan") or "").strip().upper()
        chosen = next((w for w in warehouses if wanted in (str(w.pk), w.code.upper())), None)
        if chosen is not None:
            request.session[SESSION_WAREHOUSE] = chosen.pk
            return redirect(after)
        error = f'"{wanted}" is not one of your warehouses: choose one below.' if wanted else ""
    elif len(warehouses) == 1 and "change" not in request.GET:
        request.session[SESSION_WAREHOUSE] = warehouses[0].pk
        return redirect(after)
    context = {"warehouses": warehouses, "error": error, "page": "warehouse", "next": after}
    return render(request, "floor/warehouse.html", context)


# --- Home -------------------------------------------------------------------------------------------


def _job_links(request: HttpRequest) -> list[dict]:
    warehouse = request.floor_warehouse
    rows = [{"slug": "lookup", "title": "Look up", "blurb": "Scan an item, bin or lot: what is where", "allowed": True}]
    for job in JOBS.values():
        rows.append(
            {
                "slug": job.slug,
                "title": job.title,
                "blurb": job.blurb,
                "allowed": warehouse_allows(request.user, warehouse, job.action),
            }
        )
    return rows


@floor_view
def home(request: HttpRequest) -> HttpResponse:
    warehouse = request.floor_warehouse
    requests = (
        AdjustmentRequest.objects.filter(warehouse=warehouse, requested_by=request.user)
        .filter(Q(status=AdjustmentRequestStatus.PENDING) | Q(requested_at__gte=timezone.now() - timedelta(days=7)))
        .select_related("item__base_unit", "location", "decided_by")[:10]
    )
    return render(
        request,
        "floor/home.html",
        {"jobs": _job_links(request), "requests": requests, "page": "home", "warehouse": warehouse},
    )


# --- Look-up ---------------------------------------------------------------------------------------


@floor_view
def lookup(request: HttpRequest) -> HttpResponse:
    """What is where: an item's stock by bin and lot, a bin's contents, a lot's whereabouts,
    and their last movements in this warehouse."""
    warehouse = request.floor_warehouse
    try:
        code = floor_text(request.GET.get("code"), label="Code")
    except FloorError as exc:
        return render(request, "floor/lookup.html", {"page": "lookup", "warehouse": warehouse, "error": exc.message})
    context: dict = {"page": "lookup", "warehouse": warehouse, "code": code}
    if code:
        scan = scan_resolve(code, warehouse=warehouse)
        context["scan"] = scan
        if scan.kind == "unknown" or scan.kind == "reason":
            context["error"] = unknown_code_message(code)
        elif scan.kind == "lot" and scan.lots:
            context["ambiguous"] = scan.lots
        elif scan.kind == "location":
            if scan.location.warehouse_id != warehouse.pk:
                context["error"] = _other_warehouse_message(scan.location, warehouse)
            else:
                context.update(_lookup_location(scan.location))
        elif scan.kind == "lot":
            context.update(_lookup_item(scan.item, warehouse, lot=scan.lot))
        else:
            context.update(_lookup_item(scan.item, warehouse))
    return render(request, "floor/lookup.html", context)


def _recent_movements(queryset, limit: int = 10) -> list[Movement]:  # noqa: ANN001
    return list(
        queryset.select_related("item__base_unit", "lot", "source", "destination", "actor").order_by("-id")[:limit]
    )


def _lookup_item(item: Item, warehouse: Warehouse, lot: Lot | None = None) -> dict:
    levels = list(stock_by_location(item=item, warehouse=warehouse))
    if lot is not None:
        levels = [level for level in levels if level.lot_id == lot.pk]
    totals = stock_on_hand(item=item, warehouse=warehouse, lot=lot)
    inside = Q(source__warehouse=warehouse) | Q(destination__warehouse=warehouse)
    movements = Movement.objects.filter(item=item).filter(inside)
    if lot is not None:
        movements = movements.filter(lot=lot)
    return {
        "item": item,
        "lot": lot,
        "totals": totals,
        "levels": levels,
        "lots": [] if lot is not None else stock_by_lot(item=item, warehouse=warehouse),
        "movements": _recent_movements(movements),
        "barcodes": list(item.barcodes.values_list("code", flat=True)),
        "today": timezone.localdate(),
    }


def _lookup_location(location: Location) -> dict:
    return {
        "location": location,
        "levels": list(stock_by_location(location=location)),
        "movements": _recent_movements(Movement.objects.filter(Q(source=location) | Q(destination=location))),
        "today": timezone.localdate(),
    }


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


def _other_warehouse_message(location: Location, warehouse: Warehouse) -> str:
    if not location.is_internal:
        return f"{location} is not a bin in a warehouse: scan a bin of {warehouse.code}."
    return (
        f"Bin {location.code} is in warehouse {location.warehouse.code}; you are working in {warehouse.code}. "
        f"Scan a bin of {warehouse.code}, or change warehouse on the home page."
    )


def _check_bin(location: Location, warehouse: Warehouse) -> None:
    if not location.is_internal or location.warehouse_id != warehouse.pk:
        raise FloorError(_other_warehouse_message(location, warehouse))
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


def _check_in_bin(item: Item, location: Location, lot: Lot | None, warehouse: Warehouse) -> None:
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
        message = InsufficientStock(item=item, location=location, lot=lot, asked=quantity, available=available).message
        raise FloorError(f"{message} Enter {format_quantity(available, item.base_unit, with_unit=False)} or less.")


class Job:
    """A floor job: its steps, the checks between them, and the posting."""

    slug = ""
    title = ""
    blurb = ""
    done_verb = ""
    new_lots = False  # may a lot step take a code nobody knows (receiving a new lot)?
    action = WarehouseAction.POST  # the warehouse permission the job needs (catalog/permissions.py)
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


def _quantity_step(st: State) -> Step:
    item = st.get("item")
    unit = f" ({_unit(item)})" if item is not None else ""
    return Step("quantity", "quantity", "Quantity", f"Type the quantity{unit}")


class ReceiveJob(Job):
    slug = "receive"
    title = "Receive"
    blurb = "Goods in without an order: item, quantity, lot, bin"
    done_verb = "Received"
    new_lots = True

    def steps(self, st: State) -> list[Step]:
        steps = [Step("item", "item", "Item", "Scan the item"), _quantity_step(st)]
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
            _check_bin(st.get("destination"), st.warehouse)

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
        steps += [_quantity_step(st), Step("destination", "bin", "To bin", "Scan the bin you put it in")]
        return steps

    def autofill(self, st: State) -> None:
        self._autofill_lot(st, "source")

    def validate(self, st: State) -> None:
        source, destination, item = st.get("source"), st.get("destination"), st.get("item")
        lot, quantity = st.get("lot"), st.get("quantity")
        for name in ("source", "destination"):
            if st.has(name):
                _check_bin(st.get(name), st.warehouse)
        if source is not None and destination is not None and source.pk == destination.pk:
            raise FloorError(f"{destination.code} is the bin you take it from: scan the bin you put it in.")
        if source is not None and item is not None:
            _check_in_bin(item, source, lot, st.warehouse)
            if quantity is not None and (lot is not None or not self.tracked(st)):
                _check_quantity(item, source, lot, quantity)

    def context_for(self, st: State) -> dict:
        source, item = st.get("source"), st.get("item")
        if source is not None and item is None:
            return {"bin_contents": list(stock_by_location(location=source))[:12], "bin": source}
        if source is not None and item is not None and not st.has("quantity"):
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

    def steps(self, st: State) -> list[Step]:
        return [
            Step("item", "item", "Item", "Scan the item"),
            _quantity_step(st),
            Step("pick_bin", "bin", "From bin", "", optional=True),
            Step("pick_lot", "lot", "Lot", "", optional=True),
        ]

    def _scope(self, st: State) -> tuple[Location | None, Lot | None]:
        return st.get("pick_bin"), st.get("pick_lot")

    def validate(self, st: State) -> None:
        item, quantity = st.get("item"), st.get("quantity")
        location, lot = self._scope(st)
        today = timezone.localdate()
        if location is not None:
            _check_bin(location, st.warehouse)
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
            raise FloorError(f"No {item.sku} is available in {where}." + _where_else(item, st.warehouse, location))
        if quantity is not None:
            available = sum((level.available for level in levels), Decimal(0))
            if quantity > available:
                message = InsufficientStock(
                    item=item, location=location or st.warehouse, lot=lot, asked=quantity, available=available
                ).message
                raise FloorError(
                    f"{message} Enter {format_quantity(available, item.base_unit, with_unit=False)} or less."
                )

    def context_for(self, st: State) -> dict:
        item = st.get("item")
        if item is None:
            return {}
        location, lot = self._scope(st)
        levels = stock_levels_available_fefo(item=item, warehouse=st.warehouse, location=location, lot=lot)
        return {"proposal": levels[:6], "today": timezone.localdate(), "unit": item.base_unit}

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        location, lot = self._scope(st)
        stock_issue(
            item=st.get("item"),
            quantity=st.get("quantity"),
            actor=actor,
            warehouse=st.warehouse,
            location=location,
            lot=lot,
            idempotency_key=idempotency_key,
        )


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
        quantity = _quantity_step(st)
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
            _check_bin(location, st.warehouse)
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


JOBS: dict[str, Job] = {job.slug: job for job in (ReceiveJob(), MoveJob(), PickJob(), ScrapJob())}


def register_job(job: Job) -> None:
    """Add a job of an app above ``stock`` (``purchasing`` registers receiving an order from its
    ``AppConfig.ready``), so the floor offers it without ``stock`` importing that app."""
    JOBS[job.slug] = job


def _decode(step: Step, raw: str, st: State, job: Job) -> Value:
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
        return _quantity_value(raw, st)
    if step.kind == "date":
        if raw == "none":
            return Value("none", None, "none")
        when = parse_date(raw)
        return Value(when.isoformat(), when, when.isoformat())
    if step.kind == "reason" and (reason := reason_of(raw)) is not None:
        return Value(reason.code, reason, reason.label)
    raise FloorError(f"{step.label}: please scan it again.")


def _quantity_value(raw: str, st: State) -> Value:
    item = st.get("item")
    quantity = parse_quantity(raw, whole=item is not None and item.tracking == Tracking.SERIAL)
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


class _Rollback:
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
        _check_bin(scan.location, st.warehouse)
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


def _apply_input(st: State, job: Job, text: str) -> None:
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
            _set(st, job, "quantity", _quantity_value(text, st))
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


def _outcome(user, key: str) -> dict | None:  # noqa: ANN001
    """What the form with ``key`` posted, for the result banner (only the user's own)."""
    full = idempotency_key_for(user, key)
    movements = movements_for_key(full)
    if movements:
        movements = list(
            Movement.objects.filter(pk__in=[m.pk for m in movements])
            .select_related("item__base_unit", "lot", "source", "destination")
            .order_by("batch_line")
        )
        return {"movements": movements, "lines": [_describe_movement(m) for m in movements]}
    request = (
        AdjustmentRequest.objects.filter(idempotency_key=full)
        .select_related("item__base_unit", "location", "lot", "decided_by")
        .first()
    )
    if request is not None:
        return {"request": request}
    return None


def _describe_movement(m: Movement) -> SafeString:
    """One posted line in words; codes never break across lines."""
    what = format_html(
        '{} <span class="nb">{}</span> {}', format_quantity(m.quantity, m.item.base_unit), m.item.sku, m.item.name
    )
    lot = format_html(', lot <span class="nb">{}</span>', m.lot.code) if m.lot_id else ""
    source = format_html('<span class="nb">{}</span>', m.source.code)
    destination = format_html('<span class="nb">{}</span>', m.destination.code)
    reason = m.reason_code.lower()
    if m.kind == MovementKind.RECEIPT:
        return format_html("Received {} into {}{}", what, destination, lot)
    if m.kind == MovementKind.TRANSFER:
        return format_html("Moved {} from {} to {}{}", what, source, destination, lot)
    if m.kind == MovementKind.ISSUE:
        return format_html("Picked {} from {}{}", what, source, lot)
    if m.kind == MovementKind.SCRAP:
        return format_html("Scrapped {} from {}{} ({})", what, source, lot, reason)
    if m.kind == MovementKind.ADJUSTMENT and m.destination.is_internal:
        return format_html("Added {} to {}{} ({})", what, destination, lot, reason)
    if m.kind == MovementKind.ADJUSTMENT:
        return format_html("Took {} off {}{} ({})", what, source, lot, reason)
    return format_html("{} {}", m.get_kind_display(), what)


_CODE = re.compile(r"[\w./]+(?:-[\w./]+)+")


def _nowrap_codes(message: str) -> SafeString:
    """A message with its codes (KNF-0001, A-01-03, LOC-AMS-A-01-03) kept on one line each."""
    escaped = conditional_escape(message)
    return mark_safe(_CODE.sub(lambda m: f'<span class="nb">{m.group(0)}</span>', escaped))  # noqa: S308 - escaped above


def _new_key() -> str:
    return str(uuid.uuid4())


def _valid_key(raw: str | None) -> str | None:
    try:
        return str(uuid.UUID(str(raw)))
    except (ValueError, TypeError):
        return None


@floor_view
@require_http_methods(["GET", "POST"])
def job_view(request: HttpRequest, slug: str) -> HttpResponse:
    job = JOBS.get(slug)
    if job is None:
        raise Http404("No such job.")
    warehouse = request.floor_warehouse
    st = State(warehouse=warehouse, user=request.user)
    errors: list[str] = []
    result = None
    allowed = warehouse_allows(request.user, warehouse, job.action)
    if request.method == "GET":
        key = _new_key()
        done = _valid_key(request.GET.get("done"))
        if done:
            result = _outcome(request.user, done)
            if result is not None:
                result["again"] = request.GET.get("again") == "1"
        for step in _walk_steps(job, st):
            if step.name not in job.carry:
                continue
            try:
                raw = floor_text(request.GET.get(f"s_{step.name}"), label=step.label)
                if raw:
                    st.values[step.name] = _decode(step, raw, st, job)
            except FloorError as exc:
                st.notes.append(exc.message)
    else:
        key = _valid_key(request.POST.get("key")) or _new_key()
        full_key = idempotency_key_for(request.user, key)
        if movements_for_key(full_key) or AdjustmentRequest.objects.filter(idempotency_key=full_key).exists():
            # Sent again (a double tap, a re-sent form): it counted once; show that result.
            return redirect(f"{reverse('floor:job', args=[slug])}?done={key}&again=1")
        clear = request.POST.get("clear", "")
        for step in _walk_steps(job, st):
            before = dict(st.values)
            try:
                raw = floor_text(request.POST.get(f"s_{step.name}"), label=step.label)
                if not raw or step.name == clear:
                    continue
                st.values[step.name] = _decode(step, raw, st, job)
                job.validate(st)
            except FloorError as exc:
                st.values = before
                errors.append(exc.message)
        try:
            text = floor_text(request.POST.get("choice") or request.POST.get("scan"), label="Scan")
        except FloorError as exc:
            text = ""
            errors.append(exc.message)
        if not errors and not clear:
            rollback = _Rollback(st)
            try:
                _apply_input(st, job, text)
                job.autofill(st)
                job.validate(st)
            except FloorError as exc:
                rollback.undo()
                errors.append(exc.message)
        steps = job.steps(st)
        complete = all(st.has(s.name) for s in steps if not s.optional)
        if complete and not errors and not clear:
            try:
                job.post(st, actor=request.user, idempotency_key=full_key)
            except WarehousePermissionDenied as exc:
                errors.append(f"No permission: {exc} Nothing was posted; ask a manager for access.")
            except StockError as exc:
                errors.append(f"{exc.message} Nothing was posted.")
            else:
                kept = "".join(f"&s_{n}={quote(st.values[n].raw)}" for n in job.carry if st.has(n))
                return redirect(f"{reverse('floor:job', args=[slug])}?done={key}{kept}")
            # Keep what is still right; the last step (and a quantity found too large) is asked again.
            last = [s for s in steps if not s.optional][-1]
            st.values.pop(last.name, None)
            if "Only " in errors[-1]:
                st.values.pop("quantity", None)
    steps = job.steps(st)
    expected = next((s for s in steps if not s.optional and not st.has(s.name)), None)
    context = {
        "page": job.slug,
        "job": job,
        "warehouse": warehouse,
        "key": key,
        "steps": [s for s in steps if not s.optional],
        "rows": [
            {"step": s, "value": st.values.get(s.name), "current": expected is not None and s.name == expected.name}
            for s in steps
            if not s.optional or st.has(s.name)
        ],
        "hidden": [(name, value.raw) for name, value in st.values.items()],
        "expected": expected,
        "errors": [_nowrap_codes(error) for error in errors],
        "notes": [_nowrap_codes(note) for note in st.notes],
        "result": result,
        "allowed": allowed,
        "permission_label": WarehouseAction.LABELS[job.action],
        "step_number": len([s for s in steps if not s.optional and st.has(s.name)]) + 1,
        "proposal": None,
        "bin_contents": None,
        "available_here": None,
        "bin": None,
        "reasons": [],
        **job.context_for(st),
    }
    return render(request, "floor/job.html", context)


def _walk_steps(job: Job, st: State) -> Iterator[Step]:
    """A job's steps in order while the caller fills ``st``: steps appear as values do (the lot
    step once the item is known to be tracked), so the list is read again after each one."""
    seen: set[str] = set()
    while True:
        step = next((s for s in job.steps(st) if s.name not in seen), None)
        if step is None:
            return
        seen.add(step.name)
        yield step


# --- Labels -----------------------------------------------------------------------------------------


@login_required(login_url=LOGIN_URL)
def labels(request: HttpRequest) -> HttpResponse:
    """A sheet of Code 128 labels (A4, several per page) for the items and bins named in the
    query (``?item=<id>&location=<id>``, repeatable, ``copies=N``). Bins only of warehouses the
    user may view."""
    item_ids = [int(pk) for pk in request.GET.getlist("item") if pk.isdigit()][:500]
    location_ids = [int(pk) for pk in request.GET.getlist("location") if pk.isdigit()][:500]
    copies = min(max(int(request.GET.get("copies", "1")) if request.GET.get("copies", "1").isdigit() else 1, 1), 50)
    permitted = warehouses_for(request.user, WarehouseAction.VIEW)
    items = Item.objects.filter(pk__in=item_ids).prefetch_related("barcodes").order_by("sku")
    locations = (
        Location.objects.filter(pk__in=location_ids, warehouse__in=permitted)
        .select_related("warehouse")
        .order_by("warehouse__code", "code")
    )
    sheet: list[Label] = [item_label(i) for i in items] + [location_label(loc) for loc in locations]
    sheet = [label for label in sheet for _ in range(copies)]
    pages = [sheet[i : i + LABELS_PER_PAGE] for i in range(0, len(sheet), LABELS_PER_PAGE)]
    back = request.GET.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    return render(request, "floor/labels.html", {"pages": pages, "count": len(sheet), "back": back})


@login_required(login_url=LOGIN_URL)
def label_svg(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """One label's barcode as an SVG file (for label printers and other layouts)."""
    if kind == "item":
        label = item_label(get_object_or_404(Item, pk=pk))
    elif kind == "location":
        location = get_object_or_404(
            Location.objects.select_related("warehouse"),
            pk=pk,
            warehouse__in=warehouses_for(request.user, WarehouseAction.VIEW),
        )
        label = location_label(location)
    else:
        raise Http404("Labels are for items and locations.")
    svg = '<?xml version="1.0" encoding="UTF-8"?>\n' + code128_svg(label.code)
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Disposition"] = f'inline; filename="label-{kind}-{pk}.svg"'
    return response

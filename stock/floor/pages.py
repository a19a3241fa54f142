"""The floor's pages around the jobs: sign in, choose a warehouse (re-checked on every request:
permissions can change), home, look-up (what is where) and label sheets. The job page itself is
``stock.floor.job_page``."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods

from catalog.models import Item, Location, Warehouse
from catalog.permissions import WarehouseAction, warehouse_allows, warehouses_for
from stock.models import AdjustmentRequest, AdjustmentRequestStatus, Lot, Movement
from stock.selectors import stock_by_location, stock_by_lot, stock_on_hand

from .engine import JOBS, blind_bins, mark_count_open, other_warehouse_message
from .labels import LABELS_PER_PAGE, Label, code128_svg, item_label, location_label
from .scanning import FloorError, FloorLoginForm, floor_text, scan_resolve, unknown_code_message

SESSION_WAREHOUSE = "floor_warehouse"
LOGIN_URL = reverse_lazy("floor:login")

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
    and their last movements in this warehouse.

    A bin that an open blind count covers (``engine.blind_bins``) shows what it holds but no
    quantity ("count open"), and nothing that would let a clerk work its book out: the item's
    totals and lot totals (they include that bin) and the movements in or out of it are left
    out too, until the count is submitted. The admin is not the floor: managers see all there."""
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
                context["error"] = other_warehouse_message(scan.location, warehouse)
            else:
                context.update(_lookup_location(scan.location, blind_bins(warehouse)))
        elif scan.kind == "lot":
            context.update(_lookup_item(scan.item, warehouse, blind_bins(warehouse), lot=scan.lot))
        else:
            context.update(_lookup_item(scan.item, warehouse, blind_bins(warehouse)))
    return render(request, "floor/lookup.html", context)


def _recent_movements(queryset, limit: int = 10) -> list[Movement]:  # noqa: ANN001
    return list(
        queryset.select_related("item__base_unit", "lot", "source", "destination", "actor").order_by("-id")[:limit]
    )


def _lookup_item(item: Item, warehouse: Warehouse, blind: frozenset[int], lot: Lot | None = None) -> dict:
    levels = list(stock_by_location(item=item, warehouse=warehouse))
    if lot is not None:
        levels = [level for level in levels if level.lot_id == lot.pk]
    counted = mark_count_open(levels, blind)
    inside = Q(source__warehouse=warehouse) | Q(destination__warehouse=warehouse)
    movements = Movement.objects.filter(item=item).filter(inside)
    if lot is not None:
        movements = movements.filter(lot=lot)
    if blind:
        movements = movements.exclude(source_id__in=blind).exclude(destination_id__in=blind)
    return {
        "item": item,
        "lot": lot,
        "counted_bins": counted,  # totals and lot totals include those bins: not shown
        "totals": None if counted else stock_on_hand(item=item, warehouse=warehouse, lot=lot),
        "levels": levels,
        "lots": [] if lot is not None or counted else stock_by_lot(item=item, warehouse=warehouse),
        "movements": _recent_movements(movements),
        "barcodes": list(item.barcodes.values_list("code", flat=True)),
        "today": timezone.localdate(),
    }


def _lookup_location(location: Location, blind: frozenset[int]) -> dict:
    levels = list(stock_by_location(location=location))
    movements = Movement.objects.filter(Q(source=location) | Q(destination=location))
    counted = mark_count_open(levels, blind)
    if location.pk in blind and location.code not in counted:
        counted.insert(0, location.code)  # an empty bin under count: "Empty." would be its book
    return {
        "location": location,
        "levels": levels,
        "counted_bins": counted,
        "location_count_open": location.pk in blind,
        "movements": [] if location.pk in blind else _recent_movements(movements),
        "today": timezone.localdate(),
    }


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

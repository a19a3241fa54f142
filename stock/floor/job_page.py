"""The job page (``/floor/<slug>/``): one request of a job's loop. Hidden steps are decoded and
re-checked, the scan goes to its step, and when every step is filled the job posts through
``stock.services`` with ``actor=request.user`` and the idempotency key
``floor:<user id>:<uuid of the form>``, then redirects (POST/redirect/GET) to the same job with
the result on top and a fresh form. A form sent again shows the first result and posts nothing.

Refusals (unknown barcode, item not in this bin, not enough available, no permission, lot
expired...) are shown in words that say what to do, and nothing is written: the engine's checks
are for early, clear messages; the services check again under lock, and their ``StockError`` and
``WarehousePermissionDenied`` are shown the same way. What is asked again after a refusal is
decided on the exception's type (``InsufficientStock``: the quantity), never on its text.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_http_methods

from catalog.permissions import WarehouseAction, WarehousePermissionDenied, warehouse_allows
from catalog.units import format_quantity
from common.errors import DomainError
from stock.models import AdjustmentRequest, Movement, MovementKind
from stock.services import InsufficientStock, movements_for_key

from .engine import JOBS, Rollback, State, apply_input, decode, walk_steps
from .pages import floor_view
from .scanning import FloorError, floor_text


def idempotency_key_for(user, key: str) -> str:  # noqa: ANN001
    """The key a floor form posts with: one per user and form, so a double tap posts once."""
    return f"floor:{user.pk}:{key}"


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
            result = job.outcome(idempotency_key_for(request.user, done)) or _outcome(request.user, done)
            if result is not None:
                result["again"] = request.GET.get("again") == "1"
        for step in walk_steps(job, st):
            if step.name not in job.carry:
                continue
            try:
                raw = floor_text(request.GET.get(f"s_{step.name}"), label=step.label)
                if raw:
                    st.values[step.name] = decode(step, raw, st, job)
            except FloorError as exc:
                st.notes.append(exc.message)
    else:
        key = _valid_key(request.POST.get("key")) or _new_key()
        full_key = idempotency_key_for(request.user, key)
        if (
            movements_for_key(full_key)
            or AdjustmentRequest.objects.filter(idempotency_key=full_key).exists()
            or job.outcome(full_key) is not None
        ):
            # Sent again (a double tap, a re-sent form): it counted once; show that result.
            return redirect(f"{reverse('floor:job', args=[slug])}?done={key}&again=1")
        clear = request.POST.get("clear", "")
        for step in walk_steps(job, st):
            before = dict(st.values)
            try:
                raw = floor_text(request.POST.get(f"s_{step.name}"), label=step.label)
                if not raw or step.name == clear:
                    continue
                st.values[step.name] = decode(step, raw, st, job)
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
            rollback = Rollback(st)
            try:
                apply_input(st, job, text)
                job.autofill(st)
                job.validate(st)
            except FloorError as exc:
                rollback.undo()
                errors.append(exc.message)
        steps = job.steps(st)
        complete = all(st.has(s.name) for s in steps if not s.optional)
        if complete and not errors and not clear:
            too_many = False  # the service found the quantity too large: ask it again too
            try:
                job.post(st, actor=request.user, idempotency_key=full_key)
            except WarehousePermissionDenied as exc:
                errors.append(f"No permission: {exc} Nothing was posted; ask a manager for access.")
            except DomainError as exc:  # StockError, or the refusal of an app's job (counting)
                errors.append(f"{exc.message} Nothing was posted.")
                too_many = isinstance(exc, InsufficientStock)
            else:
                kept = "".join(f"&s_{n}={quote(st.values[n].raw)}" for n in job.carried(st))
                return redirect(f"{reverse('floor:job', args=[slug])}?done={key}{kept}")
            # Keep what is still right; the last step (and a quantity found too large) is asked again.
            last = [s for s in steps if not s.optional][-1]
            st.values.pop(last.name, None)
            if too_many:
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
        "count_open_here": False,
        "bin": None,
        "reasons": [],
        "panel": None,  # a job's own template under the form (counting: what is left in the bin)
        **job.context_for(st),
    }
    return render(request, "floor/job.html", context)

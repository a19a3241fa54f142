"""The clerk page "Count" (``/floor/count/``, docs/floor.md and docs/counting.md): scan a bin, then
each item (and lot) in it and type how many there are, in the item's base unit (the API also
takes a pack unit, converted by ``count_line_record``). "Bin empty" counts every line of the bin
as zero; an item that is not expected there is counted too.
Blind: the page never shows a book quantity, only what is still to count in the bin (SKUs).
When every line of a count is counted, "Submit count #N" submits it.

The bin must be on an open count of the warehouse that the clerk may count (not a recount of
their own count); the oldest such count assigned to them, else the oldest, is the one counted.
Each posting is ``counting.services.count_line_record`` (or ``count_bin_empty`` /
``count_submit``) with the form's idempotency key: a form sent twice counts once.
``CountingConfig.ready`` registers the job with ``stock.floor.engine.register_job``.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from django.utils.html import format_html

from catalog.models import Location
from catalog.units import format_quantity
from stock.floor.engine import Job, State, Step, Value, check_bin, quantity_step
from stock.floor.scanning import FloorError

from .models import Count, CountLine, CountStatus, LineStatus
from .services import count_bin_empty, count_line_record, count_submit

EMPTY = "EMPTY"
SUBMIT = "SUBMIT:"


class _Marker:
    """A value of the bin or item step that is an action, not a thing (bin empty, submit)."""

    def __init__(self, kind: str, count: Count | None = None) -> None:
        self.kind, self.count = kind, count
        self.tracking = "none"  # read as an untracked item by the engine's checks


def open_counts_for(user, warehouse) -> list[Count]:  # noqa: ANN001
    """The open counts of ``warehouse`` ``user`` may count: not their own recount, assigned to
    them or to nobody; theirs first, then the oldest."""
    counts = Count.objects.filter(warehouse=warehouse, status=CountStatus.OPEN).exclude(excluded_user=user)
    counts = counts.filter(Q(assigned_to=user) | Q(assigned_to__isnull=True))
    return sorted(counts, key=lambda c: (c.assigned_to_id != user.pk, c.pk))


def count_for_bin(user, location: Location) -> Count:  # noqa: ANN001
    for count in open_counts_for(user, location.warehouse):
        if count.locations.filter(pk=location.pk).exists():
            return count
    raise FloorError(
        f"Bin {location.code} is on no open count of {location.warehouse.code} for you. "
        "Count the bins of your counts (listed below), or ask the office to start a count."
    )


class CountJob(Job):
    slug = "count"
    title = "Count"
    blurb = "Cycle count: bin, each item and how many (blind)"
    done_verb = "Counted"
    carry = ("bin",)  # the next item of the same bin needs no second scan of the bin
    zero_quantity = True  # "none of this item here" is a count (the others in the bin may be there)

    def steps(self, st: State) -> list[Step]:
        bin_value, item = st.get("bin"), st.get("item")
        if isinstance(bin_value, _Marker):
            return [Step("bin", "bin", "Bin", "Scan the bin you count")]
        steps = [
            Step("bin", "bin", "Bin", "Scan the bin you count"),
            Step("item", "item", "Item", "Scan an item in the bin, or tap Bin empty"),
        ]
        if isinstance(item, _Marker):
            return steps
        if self.tracked(st):
            steps.append(Step("lot", "lot", "Lot", "Scan the lot"))
        quantity = quantity_step(st)
        steps.append(Step("quantity", "quantity", "Quantity", "How many are there?" + quantity.prompt[17:]))
        return steps

    def read(self, st: State, step: Step, text: str) -> Value | None:
        word = text.strip().upper()
        if step.name == "item" and word == EMPTY:
            return Value("empty", _Marker("empty"), "Bin empty", "every line of the bin counts as zero")
        if step.name == "bin" and word.startswith(SUBMIT):
            return self._submit_value(st, word[len(SUBMIT) :])
        return None

    def decode(self, st: State, step: Step, raw: str) -> Value | None:
        if step.name == "item" and raw == "empty":
            return Value("empty", _Marker("empty"), "Bin empty", "every line of the bin counts as zero")
        if step.name == "bin" and raw.startswith("submit:"):
            return self._submit_value(st, raw[len("submit:") :])
        return None

    def _submit_value(self, st: State, number: str) -> Value:
        count = next((c for c in open_counts_for(st.user, st.warehouse) if str(c.pk) == number.strip()), None)
        if count is None:
            raise FloorError(f"There is no open count #{number} of {st.warehouse.code} for you to submit.")
        return Value(f"submit:{count.pk}", _Marker("submit", count), f"Submit count #{count.pk}")

    def validate(self, st: State) -> None:
        location = st.get("bin")
        if isinstance(location, Location):
            check_bin(location, st.warehouse)
            count_for_bin(st.user, location)

    def context_for(self, st: State) -> dict:
        location = st.get("bin")
        counts = open_counts_for(st.user, st.warehouse)
        left: list = []
        if isinstance(location, Location):
            count = next((c for c in counts if c.locations.filter(pk=location.pk).exists()), None)
            if count is not None:
                lines = count.lines.filter(location=location, status=LineStatus.TO_COUNT)
                left = list(lines.select_related("item", "lot").order_by("item__sku"))
        summary = [
            (c, c.lines.exclude(status=LineStatus.TO_COUNT).count(), c.lines.count(), c.locations.count())
            for c in counts[:8]
        ]
        return {
            "panel": "counting/floor_count_panel.html",
            "count_left": left,
            "count_bin": location if isinstance(location, Location) else None,
            "count_summary": summary,
            "count_item_expected": st.has("bin") and not st.has("item"),
            "count_submit_key": str(uuid.uuid4()),  # the submit button's own form
        }

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        location, item = st.get("bin"), st.get("item")
        if isinstance(location, _Marker):
            count_submit(count=location.count, actor=actor, idempotency_key=idempotency_key)
            return
        count = count_for_bin(actor, location)
        if isinstance(item, _Marker):
            count_bin_empty(count=count, location=location, actor=actor, idempotency_key=idempotency_key)
            return
        count_line_record(
            count=count,
            location=location,
            item=item,
            lot=st.get("lot"),
            quantity=st.get("quantity"),
            actor=actor,
            idempotency_key=idempotency_key,
        )

    def outcome(self, idempotency_key: str) -> dict | None:
        line = (
            CountLine.objects.filter(idempotency_key=idempotency_key)
            .select_related("item__base_unit", "location", "lot")
            .first()
        )
        if line is None:
            return self._submitted(idempotency_key)
        lot = format_html(", lot {}", line.lot.code) if line.lot_id else ""
        quantity = format_quantity(line.counted_quantity, line.item.base_unit)
        number = line.count_id
        return {
            "done": True,
            "title": "Counted",
            "lines": [format_html("{} {} in {}{} (count #{})", quantity, line.item.sku, line.location, lot, number)],
        }

    def _submitted(self, idempotency_key: str) -> dict | None:
        """The banner after "Submit count #N": what became of its lines (never a book quantity)."""
        count = Count.objects.filter(submit_key=idempotency_key).first()
        if count is None:
            return None
        words = {
            LineStatus.POSTED: "posted",
            LineStatus.RECOUNT: "to recount",
            LineStatus.WAITING: "waiting for a manager",
        }
        statuses = list(count.lines.values_list("status", flat=True))
        what = ", ".join(f"{statuses.count(status)} {word}" for status, word in words.items())
        return {"done": True, "title": "Submitted", "lines": [f"Count #{count.pk} submitted: {what}."]}

"""Counting's kind of alert (``common.alerts``): count variances waiting for a manager."""

from __future__ import annotations

from catalog.units import format_quantity
from common.alerts import Alert, AlertKind, Found
from common.roles import ADMINISTRATOR, INVENTORY_MANAGER, mail_recipients

from .models import CountLine
from .selectors import variances_waiting_for


def _text(line: CountLine) -> str:
    unit = line.item.base_unit
    lot = f" lot {line.lot.code}" if line.lot else ""
    return (
        f"{line.count.warehouse.code} {line.location.code} {line.item.sku}{lot}: counted "
        f"{format_quantity(line.counted_quantity, unit, with_unit=False)}, book "
        f"{format_quantity(line.book_quantity, unit, with_unit=False)}, variance "
        f"{format_quantity(line.variance, unit)} ({line.variance_value}), line #{line.pk} of count "
        f"#{line.count_id}, counted by {line.counted_by} at {line.counted_at:%Y-%m-%d %H:%M}"
    )


def variances_found() -> Found:
    """Per active Inventory manager and Administrator with an address: the count lines waiting
    for approval in the warehouses where they may approve counts (``variances_waiting_for``).
    A line's condition clears when it is approved or rejected."""
    return {
        user: [Alert(key=f"count-line:{line.pk}", text=_text(line)) for line in variances_waiting_for(user)]
        for user in mail_recipients(INVENTORY_MANAGER, ADMINISTRATOR)
    }


VARIANCES = AlertKind(
    kind="count_variances",
    title="Count variances waiting for approval",
    intro=(
        "These count lines are beyond tolerance, recounted, and wait for a manager: approve or reject each "
        "with a reason code in the admin (Counting > Count lines, status waiting) or the API."
    ),
    subject="Counts: {count} variance(s) waiting for your approval",
    collect=variances_found,
)

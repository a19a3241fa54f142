"""Purchasing's kind of alert (``common.alerts``): items at or below their reorder point."""

from __future__ import annotations

from decimal import Decimal

from catalog.units import format_quantity
from common.alerts import Alert, AlertKind, Found
from common.roles import ADMINISTRATOR, PURCHASING_MANAGER, mail_recipients

from .selectors import reorder_suggestions


def _line(suggestion) -> str:  # noqa: ANN001 - a selectors.Suggestion
    offer = suggestion.supplier_item
    source = f"{offer.supplier.code} at {offer.unit_cost}" if offer else "no supplier yet"
    urgent = "URGENT " if suggestion.urgent else ""

    def q(value: Decimal) -> str:  # with the unit's places, the unit once at the end
        return format_quantity(value, suggestion.item.base_unit, with_unit=False)

    return (
        f"{urgent}{suggestion.item.sku} {suggestion.item.name} in {suggestion.warehouse.code}: available "
        f"{q(suggestion.available)}, on order {q(suggestion.on_order)}, reorder point "
        f"{q(suggestion.policy.reorder_point)}; suggested {q(suggestion.quantity)} "
        f"{suggestion.item.base_unit.code} ({source})"
    )


def reorder_found() -> Found:
    """Per active Purchasing manager and Administrator with an address: one alert per (warehouse,
    item) at or below its reorder point in the warehouses they may see; urgent below safety stock."""
    return {
        user: [
            Alert(key=f"{s.warehouse.code}:{s.item.sku}", text=_line(s), urgent=s.urgent)
            for s in reorder_suggestions(user=user)
        ]
        for user in mail_recipients(PURCHASING_MANAGER, ADMINISTRATOR)
    }


REORDER = AlertKind(
    kind="reorder",
    title="Reorder",
    intro=(
        "These items have fallen to their reorder point or below (available plus on order). Make draft "
        "orders of them on the reorder suggestions page (admin: Reorder policies > Reorder suggestions)."
    ),
    subject="Reorder: {count} item(s) at or below the reorder point ({urgent} urgent)",
    collect=reorder_found,
)

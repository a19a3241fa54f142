"""Celery tasks of purchasing: thin wrappers around selectors and services."""

from __future__ import annotations

import logging
from decimal import Decimal

from celery import shared_task
from django.core.mail import send_mail
from django.urls import reverse

from catalog.units import format_quantity
from inventory_site.roles import ADMINISTRATOR, PURCHASING_MANAGER, mail_recipients

from .selectors import reorder_suggestions

logger = logging.getLogger(__name__)


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


@shared_task(name="purchasing.reorder_alerts")
def reorder_alerts() -> int:
    """Mail every active Purchasing manager and Administrator with an address the reorder
    suggestions of the warehouses they may see (nothing when there is none for them). Reads
    and mails only, so running it twice sends the list twice and changes nothing. Returns the
    number of mails sent."""
    users = mail_recipients(PURCHASING_MANAGER, ADMINISTRATOR)
    page = reverse("admin:purchasing_suggestions")
    sent = 0
    for user in users:
        suggestions = reorder_suggestions(user=user)
        if not suggestions:
            continue
        urgent = sum(1 for s in suggestions if s.urgent)
        send_mail(
            subject=f"Reorder: {len(suggestions)} item(s) at or below the reorder point ({urgent} urgent)",
            message=(
                "These items have fallen to their reorder point or below (available plus on order). "
                f"Make draft orders of them on the reorder suggestions page ({page}).\n\n"
                + "\n".join(_line(s) for s in suggestions)
                + "\n"
            ),
            from_email=None,
            recipient_list=[user.email],
        )
        sent += 1
    logger.info("Reorder alerts: %d mail(s) sent.", sent)
    return sent

"""Celery tasks of purchasing: thin wrappers around selectors and services (reorder alerts,
the nightly forecasts spread over chunk tasks)."""

from __future__ import annotations

import logging
from decimal import Decimal

from celery import shared_task
from django.core.mail import send_mail
from django.urls import reverse

from catalog.units import format_quantity
from common.roles import ADMINISTRATOR, PURCHASING_MANAGER, mail_recipients

from .documents import purchase_order_send
from .models import PurchaseOrder
from .replenishment import demand_history_refresh, forecast_pairs, forecast_refit
from .selectors import reorder_suggestions
from .services import PurchasingError

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


FORECAST_CHUNK = 200  # (item, warehouse) pairs per task: a few minutes of fitting each


@shared_task(name="purchasing.forecast_chunk")
def forecast_chunk(pairs: list[list[int]]) -> int:
    """Refit the forecasts (and computed policies) of ``pairs`` ([item id, warehouse id]);
    idempotent: a retry refits the same pairs again. Returns how many were fitted."""
    return len(forecast_refit(pairs=[(item, warehouse) for item, warehouse in pairs]))


@shared_task(name="purchasing.forecast_nightly")
def forecast_nightly() -> int:
    """Rebuild the demand history, then spread the refits over ``forecast_chunk`` tasks of
    ``FORECAST_CHUNK`` pairs (the workers fit in parallel). Returns the number of tasks sent."""
    demand_history_refresh()
    pairs = forecast_pairs()
    chunks = [pairs[i : i + FORECAST_CHUNK] for i in range(0, len(pairs), FORECAST_CHUNK)]
    for chunk in chunks:
        forecast_chunk.delay([list(pair) for pair in chunk])
    logger.info("Forecasts: %d pair(s) in %d task(s).", len(pairs), len(chunks))
    return len(chunks)


@shared_task(name="purchasing.send_purchase_order")
def send_purchase_order(order_id: int) -> int | None:
    """Mail a placed order to its supplier (``documents.purchase_order_send``, as the system).
    Enqueued when the order is placed, after the placing commits. A refusal (no address, the
    mail server said no) is recorded on the order and logged, not retried: the order's page
    offers to send it again. Returns the id of the recorded sending, if any."""
    order = PurchaseOrder.objects.filter(pk=order_id).first()
    if order is None:
        return None
    try:
        return purchase_order_send(order=order, actor=None).pk
    except PurchasingError as refused:
        logger.warning("Purchase order %s not sent: %s", order.number, refused)
        return None

"""Celery tasks of purchasing: thin wrappers around selectors and services (reorder alerts,
the nightly forecasts spread over chunk tasks)."""

from __future__ import annotations

import logging

from celery import shared_task

from common.alerts import alerts_run
from common.jobs import TASK_RETRY

from .alerts import REORDER
from .documents import purchase_order_send
from .models import PurchaseOrder
from .replenishment import demand_history_refresh, forecast_pairs, forecast_refit
from .services import PurchasingError

logger = logging.getLogger(__name__)


@shared_task(name="purchasing.reorder_alerts", **TASK_RETRY)
def reorder_alerts() -> int:
    """Mail every active Purchasing manager and Administrator with an address the items newly at
    or below their reorder point in the warehouses they may see, once per (warehouse, item) until
    it recovers (``common.alerts``). Idempotent. Returns the number of mails sent."""
    return alerts_run("purchasing.reorder_alerts", [REORDER.kind])


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

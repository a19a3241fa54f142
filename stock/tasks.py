"""Celery tasks of the ledger: thin wrappers around services and selectors."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from catalog.models import UnitOfMeasure
from catalog.permissions import warehouses_for
from catalog.units import format_quantity
from common.roles import ADMINISTRATOR, INVENTORY_MANAGER, mail_recipients
from common.services import idempotent_requests_purge

from .reconciliation import reconcile_and_record
from .selectors import lots_expiring
from .services import period_balances_close

logger = logging.getLogger(__name__)


@shared_task(name="stock.reconcile_nightly")
def reconcile_nightly() -> int:
    """Run the reconciliation; when the books do not balance, mail every active Administrator
    and Inventory manager the list of differences. It repairs nothing; each run is stored
    (``ReconciliationRun``, shown in the admin and on the managers' dashboard). Returns the
    number of differences."""
    _run, differences = reconcile_and_record("nightly")
    if not differences:
        logger.info("Nightly reconciliation: the books balance.")
        return 0
    recipients = sorted(set(mail_recipients(ADMINISTRATOR, INVENTORY_MANAGER).values_list("email", flat=True)))
    lines = "\n".join(str(d) for d in differences[:500])
    more = f"\n... and {len(differences) - 500} more" if len(differences) > 500 else ""
    logger.error("Nightly reconciliation found %d differences", len(differences))
    if recipients:
        send_mail(
            subject=f"Stock reconciliation: {len(differences)} difference(s)",
            message=(
                "The nightly reconciliation found differences between the ledger and the stock "
                "levels or valuation. Nothing was changed. Run `python manage.py reconcile` to see "
                f"them again.\n\n{lines}{more}\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    return len(differences)


@shared_task(name="stock.period_balances_close")
def period_balances_close_nightly() -> int:
    """Close every month that has ended and is not closed yet (``stock.services.period_balances_close``).
    Idempotent: a closed month is left as it is. Returns how many months were closed."""
    closed = period_balances_close()
    logger.info("Closed %d period(s) of stock balances.", len(closed))
    return len(closed)


@shared_task(name="stock.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete the API's stored answers older than ``API_IDEMPOTENCY_RETENTION_DAYS`` (a retry
    within that window replays the first answer byte for byte). Returns how many went."""
    before = timezone.now() - timedelta(days=settings.API_IDEMPOTENCY_RETENTION_DAYS)
    deleted = idempotent_requests_purge(before=before)
    logger.info("Purged %d API idempotency key(s) older than %s.", deleted, before.isoformat())
    return deleted


def on_hand(lot: dict) -> str:
    """A lot's stock with its unit's places and code ("4 each", "1.250 kg")."""
    return format_quantity(lot["on_hand"], UnitOfMeasure(code=lot["unit_code"], decimal_places=lot["unit_places"]))


@shared_task(name="stock.expiry_alerts")
def expiry_alerts() -> int:
    """Mail every active Administrator and Inventory manager with an address the lots with stock
    that expire within ``STOCK_EXPIRY_ALERT_DAYS`` days (expired ones first), in the warehouses
    they may view; nobody gets an empty mail. Reads and mails only. Returns the mails sent."""
    days = settings.STOCK_EXPIRY_ALERT_DAYS
    today = timezone.localdate()
    sent = 0
    for user in mail_recipients(ADMINISTRATOR, INVENTORY_MANAGER):
        lines = []
        expired = 0  # counted from the lots' dates: an item's name or lot code may say "EXPIRED" too
        for warehouse in warehouses_for(user).order_by("code"):
            for lot in lots_expiring(within_days=days, warehouse=warehouse, today=today):
                left = (lot["expiry_date"] - today).days
                expired += left < 0
                when = "EXPIRED" if left < 0 else ("expires today" if left == 0 else f"expires in {left} day(s)")
                lines.append(
                    f"{warehouse.code}: {lot['sku']} {lot['name']}, lot {lot['lot_code']}, "
                    f"{on_hand(lot)} on hand, {when} ({lot['expiry_date'].isoformat()})"
                )
        if not lines:
            continue
        send_mail(
            subject=f"Expiring stock: {len(lines)} lot(s) within {days} days ({expired} expired)",
            message=(
                f"Lots with stock that expire within {days} days. Pick them first (the floor's Pick job "
                "proposes them by first expiry), or scrap what has expired.\n\n" + "\n".join(lines) + "\n"
            ),
            from_email=None,
            recipient_list=[user.email],
        )
        sent += 1
    logger.info("Expiry alerts: %d mail(s) sent.", sent)
    return sent

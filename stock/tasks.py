"""Celery tasks of the ledger: thin wrappers around services and selectors."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from inventory_site.roles import ADMINISTRATOR, INVENTORY_MANAGER

from .reconciliation import reconcile

logger = logging.getLogger(__name__)


@shared_task(name="stock.reconcile_nightly")
def reconcile_nightly() -> int:
    """Run the reconciliation; when the books do not balance, mail every active Administrator
    and Inventory manager the list of differences. Idempotent (it only reads and mails).
    Returns the number of differences."""
    differences = reconcile()
    if not differences:
        logger.info("Nightly reconciliation: the books balance.")
        return 0
    recipients = sorted(
        set(
            get_user_model()
            .objects.filter(is_active=True, groups__name__in=[ADMINISTRATOR, INVENTORY_MANAGER])
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
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


@shared_task(name="stock.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete the API's stored answers older than ``API_IDEMPOTENCY_RETENTION_DAYS`` (a retry
    within that window replays the first answer byte for byte). Returns how many went."""
    from inventory_site.api import idempotent_requests_purge  # the API module imports DRF

    before = timezone.now() - timedelta(days=settings.API_IDEMPOTENCY_RETENTION_DAYS)
    deleted = idempotent_requests_purge(before=before)
    logger.info("Purged %d API idempotency key(s) older than %s.", deleted, before.isoformat())
    return deleted

"""Celery tasks of the ledger: thin wrappers around services and selectors."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

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

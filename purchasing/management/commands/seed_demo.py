"""``python manage.py seed_demo``: the demo web shop with stock and purchasing (idempotent). It lives
in ``purchasing``, the app on top, so it can seed every app below it."""

from typing import Any

from django.core.management.base import BaseCommand

from purchasing.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo web shop: warehouses AMS and RTM with their bins, categories, ~200 items with "
        "EAN-13 barcodes, one user per role, opening stock, two months of sales, suppliers, reorder policies "
        "and purchase orders. Idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        seed_demo(stdout=self.stdout)

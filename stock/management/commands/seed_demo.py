"""``python manage.py seed_demo``: the demo web shop with stock (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand

from stock.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo web shop: warehouses AMS and RTM with their bins, categories, ~200 items with "
        "EAN-13 barcodes, one user per role, opening stock and two months of sales. Idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        seed_demo(stdout=self.stdout)

"""``python manage.py forecast [--warehouse CODE] [--sku SKU]``: rebuild the demand history and
refit the forecasts (and the computed reorder policies) now, in this process: what the nightly
job does, for a scope (docs/replenishment.md)."""

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.api import UnknownSku, UnknownWarehouse, item_from_reference, warehouse_from_code
from purchasing.replenishment import demand_history_refresh, forecast_pairs, forecast_refit


class Command(BaseCommand):
    help = (
        "Rebuild the daily demand history from the ledger's sales, refit the forecasts and recompute the "
        "computed reorder policies, for one warehouse and/or one item (default: all)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--warehouse", help="Warehouse code (default: every warehouse).")
        parser.add_argument("--sku", help="SKU or barcode of one item (default: every item).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            warehouse = warehouse_from_code(options["warehouse"]) if options["warehouse"] else None
            item = item_from_reference(options["sku"]) if options["sku"] else None
        except (UnknownSku, UnknownWarehouse) as error:
            raise CommandError(str(error)) from error
        days = demand_history_refresh(warehouse=warehouse, item=item)
        forecasts = forecast_refit(pairs=forecast_pairs(warehouse=warehouse, item=item))
        methods = Counter(f.method for f in forecasts)
        self.stdout.write(f"Demand history: {days} day row(s). Forecasts refitted: {len(forecasts)}.")
        for method, count in methods.most_common():
            self.stdout.write(f"  {count} x {method}")

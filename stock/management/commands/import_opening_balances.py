"""``python manage.py import_opening_balances PATH [--dry-run] [--user USERNAME] [--format csv|xlsx]``."""

from catalog.importing.command import ImportCommand
from stock.resources import OpeningBalancesJob


class Command(ImportCommand):
    help = (
        "Import opening balances (columns: sku, warehouse, location, quantity, unit_cost, lot, expiry) as receipts "
        "posted through the stock services. All rows or none; re-running the same file posts nothing twice."
    )
    job_class = OpeningBalancesJob

"""``python manage.py import_locations PATH [--dry-run] [--format csv|xlsx]``."""

from catalog.importing.command import ImportCommand
from catalog.importing.locations import LocationsJob


class Command(ImportCommand):
    help = (
        "Import warehouses and their locations (columns: warehouse, code, name, parent, level, barcode, active, "
        "warehouse_name) from CSV or XLSX. New warehouse codes create warehouses. All rows or none."
    )
    job_class = LocationsJob

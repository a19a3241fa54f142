"""``python manage.py import_categories PATH [--dry-run] [--format csv|xlsx]``."""

from catalog.importing.categories import CategoriesJob
from catalog.importing.command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import categories (columns: path such as 'Home > Kitchen > Knives', valuation_method) from CSV or XLSX. "
        "All rows or none."
    )
    job_class = CategoriesJob

"""``python manage.py export_categories PATH [--format csv|xlsx]``."""

from collections.abc import Iterator
from typing import Any

from catalog.importing.categories import CATEGORY_COLUMNS, iter_category_export_rows
from catalog.importing.command import ExportCommand


class Command(ExportCommand):
    help = "Export all categories to CSV or XLSX with the columns import_categories reads."
    columns = CATEGORY_COLUMNS
    title = "categories"

    def rows(self, options: dict[str, Any]) -> Iterator[list[str]]:
        return iter_category_export_rows()

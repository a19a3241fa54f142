"""``python manage.py export_items PATH [--format csv|xlsx]``: every item, the import's columns."""

from collections.abc import Iterator
from typing import Any

from catalog.importing.command import ExportCommand
from catalog.importing.items import ITEM_COLUMNS, iter_item_export_rows


class Command(ExportCommand):
    help = "Export all items to CSV or XLSX with the columns import_items reads."
    columns = ITEM_COLUMNS
    title = "items"

    def rows(self, options: dict[str, Any]) -> Iterator[list[str]]:
        return iter_item_export_rows()

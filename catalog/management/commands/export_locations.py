"""``python manage.py export_locations PATH [--format csv|xlsx]``."""

from collections.abc import Iterator
from typing import Any

from catalog.importing.command import ExportCommand
from catalog.importing.locations import LOCATION_COLUMNS, iter_location_export_rows


class Command(ExportCommand):
    help = "Export all warehouses and internal locations to CSV or XLSX with the columns import_locations reads."
    columns = LOCATION_COLUMNS
    title = "locations"

    def rows(self, options: dict[str, Any]) -> Iterator[list[str]]:
        return iter_location_export_rows()

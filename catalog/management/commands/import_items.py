"""``python manage.py import_items PATH [--dry-run] [--create-categories] [--format csv|xlsx]``."""

from typing import Any

from django.core.management.base import CommandParser

from catalog.importing.command import ImportCommand
from catalog.importing.items import ItemsJob


class Command(ImportCommand):
    help = (
        "Import items (create new SKUs, update existing ones; never delete) from a CSV or XLSX file. "
        "All rows or none: any error writes nothing and leaves NAME.errors.csv beside the file."
    )
    job_class = ItemsJob

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--create-categories", action="store_true", help="Create categories the file names that do not exist."
        )

    def job_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"create_categories": options["create_categories"]}

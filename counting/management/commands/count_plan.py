"""``python manage.py count_plan --warehouse CODE [--date YYYY-MM-DD]``: make a day's cycle counts
(``counting.services.count_plan``; running it again for the day adds nothing)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import Warehouse
from counting.services import count_plan


class Command(BaseCommand):
    help = "Make the day's cycle counts of a warehouse (again for the same day adds nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--warehouse", required=True, help="Warehouse code.")
        parser.add_argument("--date", help="The day to plan, YYYY-MM-DD (default: today).")

    def handle(self, *args: object, **options: object) -> None:
        code = str(options["warehouse"]).strip()
        warehouse = Warehouse.objects.filter(code__iexact=code).first()
        if warehouse is None:
            raise CommandError(f"No warehouse has the code {code!r}.")
        day = None
        if options["date"]:
            try:
                day = date.fromisoformat(str(options["date"]))
            except ValueError as exc:
                raise CommandError(f"--date {options['date']!r} is not a date like 2026-12-07.") from exc
        counts = count_plan(warehouse=warehouse, actor=None, day=day)
        lines = sum(count.lines.count() for count in counts)
        when = day.isoformat() if day is not None else "today"
        if not counts:
            self.stdout.write(f"Nothing added for {warehouse.code} on {when}: planned already, a weekend, or no stock.")
            return
        self.stdout.write(f"Planned {len(counts)} count(s) with {lines} line(s) for {warehouse.code} on {when}.")

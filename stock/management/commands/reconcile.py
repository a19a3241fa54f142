"""``python manage.py reconcile``: check the books; exit 1 when anything disagrees."""

from django.core.management.base import BaseCommand, CommandError

from stock.reconciliation import reconcile


class Command(BaseCommand):
    help = "Compare stock levels and valuation with the ledger; report every difference, repair nothing."

    def handle(self, *args, **options) -> None:
        differences = reconcile()
        if not differences:
            self.stdout.write(self.style.SUCCESS("The books balance: no differences."))
            return
        for difference in differences:
            self.stdout.write(str(difference))
        raise CommandError(f"{len(differences)} difference(s) between the ledger and the books.")

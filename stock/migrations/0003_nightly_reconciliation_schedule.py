"""Schedule the nightly reconciliation in django-celery-beat (managers can edit it in the admin)."""

from django.db import migrations

from common.schedules import daily_task


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        daily_task(
            "Nightly stock reconciliation",
            "stock.reconcile_nightly",
            hour=2,
            minute=30,
            description="Compare stock levels and valuation with the ledger; mail managers on differences.",
        )
    ]

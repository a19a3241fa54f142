"""Schedule the daily expiry alerts in django-celery-beat (managers can edit or disable it in the
admin)."""

from django.db import migrations

from common.schedules import daily_task


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0008_purge_idempotency_keys_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        daily_task(
            "Daily expiry alerts",
            "stock.expiry_alerts",
            hour=5,
            minute=30,
            description="Mail managers the lots with stock expiring within STOCK_EXPIRY_ALERT_DAYS (default 14).",
        )
    ]

"""Schedule the daily purge of the API's old idempotency keys in django-celery-beat (managers can
edit or disable it in the admin)."""

from django.db import migrations

from common.schedules import daily_task


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0007_movement_indexes_and_keys"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        daily_task(
            "Purge old API idempotency keys",
            "stock.purge_idempotency_keys",
            hour=3,
            minute=15,
            description="Delete stored API answers older than API_IDEMPOTENCY_RETENTION_DAYS (default 30).",
        )
    ]

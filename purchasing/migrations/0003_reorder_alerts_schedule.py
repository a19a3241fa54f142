"""Schedule the daily reorder alerts in django-celery-beat (managers can edit or disable it in
the admin)."""

from django.db import migrations

from common.schedules import daily_task


class Migration(migrations.Migration):
    dependencies = [
        ("purchasing", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        daily_task(
            "Daily reorder alerts",
            "purchasing.reorder_alerts",
            hour=6,
            minute=0,
            description="Mail purchasing managers the items at or below their reorder point.",
        )
    ]

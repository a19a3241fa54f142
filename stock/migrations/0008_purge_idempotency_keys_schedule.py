"""Schedule the daily purge of the API's old idempotency keys in django-celery-beat (managers can
edit or disable it in the admin)."""

from django.db import migrations

NAME = "Purge old API idempotency keys"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "stock.purge_idempotency_keys",
            "crontab": crontab,
            "enabled": True,
            "description": "Delete stored API answers older than API_IDEMPOTENCY_RETENTION_DAYS (default 30).",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0007_movement_indexes_and_keys"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]

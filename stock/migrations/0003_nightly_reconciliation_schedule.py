"""Schedule the nightly reconciliation in django-celery-beat (managers can edit it in the admin)."""

from django.db import migrations


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name="Nightly stock reconciliation",
        defaults={"task": "stock.reconcile_nightly", "crontab": crontab, "enabled": True,
                  "description": "Compare stock levels and valuation with the ledger; mail managers on differences."},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="Nightly stock reconciliation").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]

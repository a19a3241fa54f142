"""The Celery beat schedules the data migrations create (django-celery-beat keeps them in the
database, where managers edit or disable them in the admin under Periodic tasks)."""

from __future__ import annotations

from django.db import migrations


def daily_task(name: str, task: str, *, hour: int, minute: int, description: str) -> migrations.RunPython:
    """A migration operation that schedules ``task`` every day at ``hour:minute`` UTC under the
    name ``name`` (left as it is when it exists: a manager may have changed it), and removes it
    when the migration is reversed."""
    return scheduled_task(name, task, hour=hour, minute=minute, day_of_week="*", description=description)


def weekly_task(
    name: str, task: str, *, day_of_week: int, hour: int, minute: int, description: str
) -> migrations.RunPython:
    """As ``daily_task``, once a week on ``day_of_week`` (0 = Sunday, as cron counts)."""
    return scheduled_task(name, task, hour=hour, minute=minute, day_of_week=str(day_of_week), description=description)


def scheduled_task(
    name: str, task: str, *, hour: int, minute: int, day_of_week: str, description: str
) -> migrations.RunPython:
    def schedule(apps, schema_editor) -> None:  # noqa: ANN001 - RunPython's signature
        crontab, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week=day_of_week,
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
            name=name, defaults={"task": task, "crontab": crontab, "enabled": True, "description": description}
        )

    def unschedule(apps, schema_editor) -> None:  # noqa: ANN001
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return migrations.RunPython(schedule, unschedule)

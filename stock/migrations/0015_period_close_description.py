"""The nightly close's description in the admin's Periodic tasks said months only; weeks close
too since the weekly balances (docs/reports.md, "As of"). Changed only where it is still the
text migration 0011 wrote (a manager may have written their own)."""

from django.db import migrations

TASK = "stock.period_balances_close"
OLD = "Store the stock's balances at each month's start once the month has ended (reports as of a date)."
NEW = (
    "Store the stock's balances at each week's and each month's start once that week or month has ended "
    "(reports as of a date read the nearest one)."
)


def describe(new: str, old: str):  # noqa: ANN201 - a RunPython function
    def run(apps, schema_editor) -> None:  # noqa: ANN001 - RunPython's signature
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK, description=old).update(
            description=new
        )

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0014_posting_function_guarded"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(describe(NEW, OLD), describe(OLD, NEW))]

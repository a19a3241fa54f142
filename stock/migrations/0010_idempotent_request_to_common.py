# IdempotentRequest moves to the common app (common/migrations/0001): in Django's state only;
# the table stock_idempotentrequest stays where it is, with its rows, and common claims it.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("stock", "0009_expiry_alerts_schedule"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="IdempotentRequest")],
            database_operations=[],
        ),
    ]

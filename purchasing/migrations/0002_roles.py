"""Grant the role groups their permissions on the purchasing models."""

from django.db import migrations

from common.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("purchasing", "0001_initial"),
        ("stock", "0008_purge_idempotency_keys_schedule"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]

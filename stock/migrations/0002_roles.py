"""Grant the role groups their permissions on the ledger's models."""

from django.db import migrations

from common.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0001_initial"),
        ("catalog", "0002_virtual_locations_units_roles"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]

"""Re-sync the roles: Administrators act and Auditors view in every warehouse (global grants of
the warehouse permissions); the other roles get warehouses one by one (django-guardian)."""

from django.db import migrations

from common.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_virtual_locations_units_roles")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]

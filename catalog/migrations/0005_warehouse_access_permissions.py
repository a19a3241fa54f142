"""Two more warehouse actions: "manage warehouse" (edit the warehouse, create and edit its
locations) and "manage warehouse access" (grant and revoke rights in it). Administrators hold
both in every warehouse (a global grant, re-synced here); others get them per warehouse."""

from django.db import migrations

from common.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_import_indexes")]

    operations = [
        migrations.AlterModelOptions(
            name="warehouse",
            options={
                "ordering": ["code"],
                "permissions": [
                    ("view_warehouse_stock", "Can view stock in the warehouse"),
                    ("post_warehouse_movements", "Can receive, move, issue and scrap in the warehouse"),
                    ("adjust_warehouse_stock", "Can adjust stock in the warehouse"),
                    ("approve_warehouse_adjustments", "Can approve adjustments and counts in the warehouse"),
                    ("receive_warehouse_purchases", "Can receive purchase orders in the warehouse"),
                    ("manage_warehouse", "Can edit the warehouse and its locations"),
                    ("manage_warehouse_access", "Can grant and revoke rights in the warehouse"),
                ],
            },
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]

"""The virtual locations every movement needs, the common units, and the role groups."""

from decimal import Decimal

from django.db import migrations

from common.roles import sync_roles

VIRTUAL_LOCATIONS = [
    ("SUPPLIER", "Suppliers", "supplier"),
    ("CUSTOMER", "Customers", "customer"),
    ("INVENTORY-ADJ", "Inventory loss/gain", "adjustment"),
    ("SCRAP", "Scrap", "scrap"),
    ("TRANSIT", "In transit", "transit"),
]

UNITS = [
    ("each", "Each", "count", Decimal(1)),
    ("pair", "Pair", "count", Decimal(2)),
    ("dozen", "Dozen", "count", Decimal(12)),
    ("box12", "Box of 12", "count", Decimal(12)),
    ("kg", "Kilogram", "mass", Decimal(1)),
    ("g", "Gram", "mass", Decimal("0.001")),
    ("l", "Litre", "volume", Decimal(1)),
    ("ml", "Millilitre", "volume", Decimal("0.001")),
    ("m", "Metre", "length", Decimal(1)),
    ("cm", "Centimetre", "length", Decimal("0.01")),
]


def create_master_data(apps, schema_editor):
    Location = apps.get_model("catalog", "Location")
    UnitOfMeasure = apps.get_model("catalog", "UnitOfMeasure")
    for code, name, kind in VIRTUAL_LOCATIONS:
        Location.objects.get_or_create(
            warehouse=None, code=code, defaults={"name": name, "kind": kind, "level": "area"}
        )
    for code, name, dimension, ratio in UNITS:
        UnitOfMeasure.objects.get_or_create(code=code, defaults={"name": name, "dimension": dimension, "ratio": ratio})


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_master_data, migrations.RunPython.noop),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]

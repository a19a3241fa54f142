"""Units get ``decimal_places`` (issue 12, finding 4), set for the existing units by code, else
by dimension. Only units are written: stock already finer than its unit (2.5 each) stays as it
is, is never rounded, and shows up on the data-quality page and in ``reconcile``."""

import django.core.validators
from django.db import migrations, models

# Frozen here (not imported) so that this migration means the same forever.
BY_CODE = {
    # counted: whole units
    "each": 0,
    "pcs": 0,
    "pc": 0,
    "piece": 0,
    "pair": 0,
    "dozen": 0,
    "box": 0,
    "box12": 0,
    "pack": 0,
    "pallet": 0,
    "case": 0,
    "carton": 0,
    "set": 0,
    "roll": 0,
    # reference units of measure: to the thousandth (gram, millilitre) or centimetre
    "kg": 3,
    "t": 3,
    "l": 3,
    "m": 2,
    # units that are themselves the small step: whole ones
    "g": 0,
    "mg": 0,
    "ml": 0,
    "cl": 0,
    "cm": 0,
    "mm": 0,
}
BY_DIMENSION = {"count": 0, "mass": 3, "volume": 3, "length": 2}


def set_decimal_places(apps, schema_editor):
    UnitOfMeasure = apps.get_model("catalog", "UnitOfMeasure")
    for unit in UnitOfMeasure.objects.all():
        places = BY_CODE.get(unit.code.strip().lower(), BY_DIMENSION.get(unit.dimension, 0))
        if unit.decimal_places != places:
            unit.decimal_places = places
            unit.save(update_fields=["decimal_places"])


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_warehouse_access_change"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalunitofmeasure",
            name="decimal_places",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Decimal places a quantity in this unit may have: 0 = whole units (each, box), 3 = kg to the gram, 2 = m to the centimetre. At most 4.",
                validators=[django.core.validators.MaxValueValidator(4)],
            ),
        ),
        migrations.AddField(
            model_name="unitofmeasure",
            name="decimal_places",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="Decimal places a quantity in this unit may have: 0 = whole units (each, box), 3 = kg to the gram, 2 = m to the centimetre. At most 4.",
                validators=[django.core.validators.MaxValueValidator(4)],
            ),
        ),
        migrations.AddConstraint(
            model_name="unitofmeasure",
            constraint=models.CheckConstraint(
                condition=models.Q(("decimal_places__lte", 4)), name="unit_decimal_places_at_most_4"
            ),
        ),
        migrations.RunPython(set_decimal_places, migrations.RunPython.noop),
    ]

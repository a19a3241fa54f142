"""Value-only entries (quantity-0 movements of the kinds in ``stock.models.VALUE_ONLY_KINDS``),
``Movement.origin`` (the movement a correction, landed cost or return is about), and
``stock_post_line`` declining what only the Python path values (docs/ledger.md, "One round trip").

The function is migration 0006's with one addition: once the valuations are locked, a line that
would take more out of a warehouse's pool than it holds (a shortfall) or bring stock into a pool
that is short (settling shortfalls, with cost corrections) raises SQLSTATE IV003, which rolls back
what the call did; ``stock.services.function`` then posts the line through ``posting._post``.
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

_0006 = importlib.import_module("stock.migrations.0006_posting_function")

# Right after the valuations are locked (and before anything is written or priced).
_ANCHOR = """    IF p_source_warehouse = p_destination_warehouse THEN
        -- Inside one warehouse no value moves"""
_DECLINE = """    IF p_source_warehouse IS DISTINCT FROM p_destination_warehouse AND (
        (p_source_warehouse IS NOT NULL AND source_valuation.quantity < p_quantity)
        OR (p_destination_warehouse IS NOT NULL AND destination_valuation.quantity < 0)
    ) THEN
        -- A shortfall is recorded, or settled, only by the Python path (stock.services.costing).
        RAISE EXCEPTION USING ERRCODE = 'IV003', MESSAGE = 'declined: the valuation pool is or would go short';
    END IF;
"""
assert _0006.POST_LINE.count(_ANCHOR) == 1
POST_LINE = _0006.POST_LINE.replace(_ANCHOR, _DECLINE + _ANCHOR)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POST_LINE, params=None)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_0006.POST_LINE, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0007_unit_decimal_places'),
        ('stock', '0011_reconciliation_runs_and_period_balances'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='movement',
            name='movement_quantity_positive',
        ),
        migrations.AddField(
            model_name='movement',
            name='origin',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='follow_ups', to='stock.movement'),
        ),
        migrations.AlterField(
            model_name='movement',
            name='kind',
            field=models.CharField(choices=[('receipt', 'Receipt'), ('issue', 'Sale / issue'), ('transfer', 'Transfer'), ('adjustment', 'Adjustment'), ('scrap', 'Scrap'), ('customer_return', 'Customer return'), ('supplier_return', 'Supplier return'), ('reversal', 'Reversal'), ('cost_correction', 'Cost correction'), ('landed_cost', 'Landed cost'), ('price_difference', 'Price difference'), ('write_down', 'Write-down')], max_length=20),
        ),
        migrations.AddIndex(
            model_name='movement',
            index=models.Index(condition=models.Q(('origin__isnull', False)), fields=['origin'], name='movement_origin'),
        ),
        migrations.AddConstraint(
            model_name='movement',
            constraint=models.CheckConstraint(condition=models.Q(('quantity__gt', 0), models.Q(('kind__in', ['cost_correction', 'landed_cost', 'price_difference', 'write_down', 'reversal']), ('quantity', 0)), _connector='OR'), name='movement_quantity_positive'),
        ),
        migrations.RunPython(create, restore),
    ]

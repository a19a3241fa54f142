# IdempotentRequest moves from stock to common in Django's state only: the table keeps its name
# (stock_idempotentrequest) and its rows. On a fresh database stock's 0004 creates the table and
# this migration claims it; on an existing one nothing in the database changes. The content type
# (and the permissions hanging on it) is relabelled, so no role loses or gains a grant.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def relabel_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="common", model="idempotentrequest").exists():
        ContentType.objects.filter(app_label="stock", model="idempotentrequest").update(app_label="common")


def unrelabel_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="stock", model="idempotentrequest").exists():
        ContentType.objects.filter(app_label="common", model="idempotentrequest").update(app_label="stock")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("stock", "0010_idempotent_request_to_common"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotentRequest",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("key", models.CharField(max_length=300, unique=True)),
                        ("method", models.CharField(max_length=10)),
                        ("path", models.CharField(max_length=500)),
                        ("fingerprint", models.CharField(max_length=64)),
                        ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("response", models.TextField(blank=True, help_text="The answer's JSON, byte for byte as first sent.")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"verbose_name": "API idempotency key", "db_table": "stock_idempotentrequest"},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, unrelabel_content_type),
    ]

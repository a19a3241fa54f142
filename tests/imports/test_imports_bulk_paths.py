"""The batched writer's two paths (one pipelined statement per batch on PostgreSQL, simple_history's bulk helpers elsewhere)
write the same rows and the same history records."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog.importing import bulk
from catalog.models import Barcode, Item
from tests.stock.factories import UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the pipelined path needs PostgreSQL"),
]

ROWS = (
    "sku,name,description,category,unit,purchase_unit,barcodes,perishable,shelf_life_days,standard_cost,weight_kg\n"
    '{p}-1,"Tab\there, new\nline \\\\ slash",d,Home > Kitchen,kg,g,{p}CODE-1|{p}CODE-2,yes,5,"1,5",2\n'
    "{p}-2,=Formula,,,each,,,no,,0,\n"
)
UPDATE = "sku,name,standard_cost,barcodes\n{p}-1,Renamed,2.25,{p}CODE-3\n{p}-2,=Formula,0,\n"
SKIP = {"id", "sku", "created_at", "updated_at", "history_id", "history_date", "code", "item_id"}


def _rows(model, prefix):
    key = "sku" if model in (Item, Item.history.model) else "code"
    queryset = model.objects.filter(**{f"{key}__startswith": prefix}).order_by(
        key, *(["history_id"] if "history" in model.__name__.lower() else [])
    )
    return [
        {k: v.replace(prefix, "P") if isinstance(v, str) else v for k, v in row.items() if k not in SKIP}
        for row in queryset.values()
    ]


def test_pipelined_path_and_orm_path_write_the_same(run, write, monkeypatch):
    UserFactory(username="importer")
    for prefix, fast in (("FAST", True), ("SLOW", False)):
        monkeypatch.setattr(bulk, "fast_path", lambda fast=fast: fast)
        created = run(
            "import_items", write(f"{prefix}.csv", ROWS.format(p=prefix)), "--create-categories", "--user", "importer"
        )
        assert created.ok, created.out
        updated = run("import_items", write(f"{prefix}-update.csv", UPDATE.format(p=prefix)), "--user", "importer")
        assert updated.ok, updated.out

    for model in (Item, Item.history.model):
        assert _rows(model, "FAST") == _rows(model, "SLOW")
        assert len(_rows(model, "FAST")) in (2, 3)  # items; history: 2 created, 1 changed
    for model in (Barcode, Barcode.history.model):
        fast, slow = _rows(model, "FAST"), _rows(model, "SLOW")
        assert fast == slow and len(fast) == 3
    assert {h.history_change_reason for h in Item.history.filter(sku__startswith="FAST")} == {
        "Imported from FAST.csv",
        "Imported from FAST-update.csv",
    }

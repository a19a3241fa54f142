"""The batched writer's two paths (one pipelined statement per batch on PostgreSQL,
simple_history's bulk helpers elsewhere) write the same rows and the same history records;
what the pipelined path does when the database refuses a batch or a later row is wrong."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog.importing import bulk, items
from catalog.models import Barcode, Item, UnitOfMeasure
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


def _file(write, name, count, *, code_of=lambda n: f"CODE-{n}", name_of=lambda n: f"Item {n}"):
    rows = "".join(f"P-{n},{name_of(n)},{code_of(n)}\n" for n in range(1, count + 1))
    return write(name, "sku,name,barcodes\n" + rows)


def test_a_batch_the_database_refuses_is_named_and_nothing_is_written(run, write, monkeypatch):
    """Checks that pass in Python but not in the database (here: a barcode owner the lookup
    missed, as when another session adds the code meanwhile) roll the whole import back, the
    message names the batch's rows, and the later batches are still checked."""
    owner = Item.objects.create(sku="OWNER", name="Owner", base_unit=UnitOfMeasure.objects.get(code="each"))
    Barcode.objects.create(item=owner, code="CODE-7", kind="internal")
    monkeypatch.setattr(items, "barcode_owners_for", lambda codes: {})
    path = _file(write, "clash.csv", 20, name_of=lambda n: "" if n == 18 else f"Item {n}")
    ran = run("import_items", path, "--batch-size", "5")
    assert not ran.ok
    assert "The database refused rows 7-11" in ran.text and "barcode_code_unique" in ran.text
    assert "Row 19, column name" in ran.text  # the batch after the refusal was still checked
    assert list(Item.objects.values_list("sku", flat=True)) == ["OWNER"]
    assert Barcode.objects.count() == 1 and Item.history.filter(sku__startswith="P-").count() == 0


def test_each_batch_is_looked_up_before_the_previous_one_is_written(run, write, monkeypatch):
    """The write of batch k is sent after batch k+1 is looked up; every write lands once, in
    order, and a second run finds every row unchanged."""
    sent = []
    original = bulk.PipelinedWriter.submit
    monkeypatch.setattr(
        bulk.PipelinedWriter, "submit", lambda self, rows, *args: sent.append(rows) or original(self, rows, *args)
    )
    path = _file(write, "many.csv", 12)
    ran = run("import_items", path, "--batch-size", "5")
    assert ran.ok, ran.out
    assert sent == ["2-6", "7-11", "12-13"]
    assert Item.objects.filter(sku__startswith="P-").count() == 12 == Barcode.objects.count()
    assert Item.history.filter(history_type="+").count() == 12
    again = run("import_items", path, "--batch-size", "5")
    assert "0 new, 0 updated, 12 unchanged" in again.out


def test_a_row_error_in_a_later_batch_keeps_the_held_write_from_being_sent(run, write, monkeypatch):
    sent = []
    original = bulk.PipelinedWriter.submit
    monkeypatch.setattr(
        bulk.PipelinedWriter, "submit", lambda self, rows, *args: sent.append(rows) or original(self, rows, *args)
    )
    path = _file(write, "late.csv", 12, code_of=lambda n: "4006381333932" if n == 11 else f"CODE-{n}")
    ran = run("import_items", path, "--batch-size", "5")
    assert not ran.ok and "Row 12, column barcodes" in ran.text  # a wrong check digit
    assert sent == ["2-6"]  # batch 7-11 was held, then dropped
    assert not Item.objects.filter(sku__startswith="P-").exists()


def test_the_json_rows_of_the_pipelined_path_are_keyed_by_column():
    """``bulk.json_rows`` keys rows by attribute name and ``bulk.recordset`` reads them by
    column name: for the models written this way the two must be the same."""
    for model in (Item, Barcode):
        assert [f.attname for f in model._meta.concrete_fields] == [f.column for f in model._meta.concrete_fields]

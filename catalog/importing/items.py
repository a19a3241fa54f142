"""Items: the ``import_items`` job (the batched writer of the command) and, re-exported here,
the item import's parts, split by topic:

- ``item_rows``: the columns, the references rows make (``ItemRefs``), the one per-row parser
  that both the admin import and the command use, and the cross-row checks of one file;
- ``item_checks``: the state checks against the item as it is now (``apply_item_spec``);
- ``item_batches``: a batch's lookups and its one write statement on PostgreSQL;
- ``item_export``: the export rows.

The semantics of a row (what it creates, updates, leaves alone) are stated in ``item_rows``
and docs/imports.md.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from catalog.models import Barcode, Item

from . import bulk
from .item_batches import ITEM_FIELDS, barcode_owners_for, item_batch_statement, items_by_key
from .item_checks import ItemChange, apply_item_spec, freezing_changes
from .item_export import format_decimal, item_export_queryset, item_export_row, iter_item_export_rows
from .item_rows import (
    BARCODE_SEPARATOR,
    COLUMN_OF,
    DEFAULT_UNIT,
    ITEM_COLUMNS,
    DuplicateTracker,
    ItemRefs,
    ItemSpec,
    category_path_normalize,
    gtin_check_digit_ok,
    parse_barcodes,
    parse_item_row,
    resolve_item_refs,
)
from .runner import ImportJob, RowError

__all__ = [
    "BARCODE_SEPARATOR",
    "COLUMN_OF",
    "DEFAULT_UNIT",
    "ITEM_COLUMNS",
    "ITEM_FIELDS",
    "DuplicateTracker",
    "ItemChange",
    "ItemRefs",
    "ItemSpec",
    "ItemsJob",
    "apply_item_spec",
    "barcode_owners_for",
    "category_path_normalize",
    "format_decimal",
    "freezing_changes",
    "gtin_check_digit_ok",
    "item_batch_statement",
    "item_export_queryset",
    "item_export_row",
    "items_by_key",
    "iter_item_export_rows",
    "parse_barcodes",
    "parse_item_row",
    "resolve_item_refs",
]


class ItemsJob(ImportJob):
    """``import_items``: validation is ``parse_item_row`` and ``apply_item_spec`` (the admin's);
    new items and their barcodes are inserted and changed items updated in batches, each with
    its history record (actor, date, "Imported from FILE"): ``catalog.importing.bulk``.

    On PostgreSQL a batch's write is one statement sent in pipeline mode and held back one
    batch: ``flush`` of batch k looks batch k up (the connection is idle: the write of batch
    k-1 is not sent yet), sends the write of batch k-1, then checks batch k and the runner
    parses batch k+1 while the server writes. Looking batch k up before batch k-1 is written
    is right because a SKU or barcode on two rows of one file is an error by itself
    (``DuplicateTracker``): no row can depend on another row of the same file."""

    label = "items"
    columns = ITEM_COLUMNS
    required = ("sku",)

    def __init__(self, *, create_categories: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refs = ItemRefs(create_categories=create_categories, actor=self.actor)
        self.duplicates = DuplicateTracker()
        self.writer = bulk.PipelinedWriter() if bulk.fast_path() else None
        self.own_savepoints = self.writer is not None
        self.held: tuple[str, str, dict[str, Any]] | None = None

    def parse(self, raw: dict[str, str], row: int) -> ItemSpec | list[RowError]:
        spec = parse_item_row(raw, row=row, refs=self.refs)
        if isinstance(spec, list):
            return spec
        return self.duplicates.check(spec) or spec

    def settle(self) -> list[RowError]:
        """Wait for the write in flight (PostgreSQL); its refusal, in words."""
        failure = self.writer.wait() if self.writer is not None else None
        if failure is None:
            return []
        rows, exc = failure
        return [RowError(None, "", "", f"The database refused rows {rows}: {exc}")]

    def _send_held(self, write: bool) -> None:
        held, self.held = self.held, None
        if held is not None and write:
            self.writer.submit(*held)  # type: ignore[union-attr]

    def flush(self, specs: list[ItemSpec], *, write: bool) -> list[RowError]:
        errors = self.settle()
        write = write and not errors
        # Everything that needs the database, while the connection is idle.
        existing = items_by_key([s.key for s in specs])
        owners = barcode_owners_for([code for s in specs for code, _ in s.barcodes])
        resolved = []
        for spec in specs:
            if problems := resolve_item_refs(spec, self.refs):
                errors.extend(problems)
            else:
                resolved.append(spec)
        self.refs.category_valuation(None)  # loads the categories now, not during the write
        moved = {
            current["id"]
            for spec in resolved
            if freezing_changes(spec, current := existing.get(spec.key)) and Item(pk=current["id"]).has_stock_history()  # type: ignore[index]
        }
        self._send_held(write and not errors)
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        fields: set[str] = set()
        barcodes: list[tuple[dict[str, Any], str, str]] = []
        for spec in resolved:
            change = apply_item_spec(spec, existing.get(spec.key), self.refs, barcode_owners=owners, moved=moved)
            if isinstance(change, list):
                errors.extend(change)
                continue
            if change.is_new:
                created.append(change.values)
                self.counts.new += 1
            elif change.unchanged:
                self.counts.unchanged += 1
            else:
                self.counts.updated += 1
                if change.changed:
                    updated.append(change.values)
                    fields.update(change.changed)
            barcodes.extend((change.values, code, kind) for code, kind in change.new_barcodes)
        if write and not errors and (created or updated or barcodes):
            if self.writer is not None:
                self.held = self._statement(
                    f"{specs[0].row}-{specs[-1].row}", created, updated, sorted(fields), barcodes
                )
            else:
                self._write(created, updated, fields, barcodes)
        return errors

    def finish(self, *, write: bool) -> list[RowError]:
        errors = self.settle()
        self._send_held(write and not errors)
        return errors + self.settle()

    def _statement(
        self,
        rows: str,
        created: list[dict[str, Any]],
        updated: list[dict[str, Any]],
        changed: list[str],
        barcodes: list[tuple[dict[str, Any], str, str]],
    ) -> tuple[str, str, dict[str, Any]]:
        """PostgreSQL: the batch as one statement (``item_batch_statement``) and its parameters."""
        codes = [{"item_id": v.get("id"), "sku": v["sku"], "code": c, "kind": k} for v, c, k in barcodes]
        params = {
            "new": bulk.json_rows(created),
            "changed": bulk.json_rows(updated),
            "codes": bulk.json_rows(codes),
            "when": timezone.now(),
            "reason": self.change_reason,
            "user": getattr(self.actor, "pk", None),
        }
        return rows, item_batch_statement(changed), params

    def _write(
        self,
        created: list[dict[str, Any]],
        updated: list[dict[str, Any]],
        fields: set[str],
        barcodes: list[tuple[dict[str, Any], str, str]],
    ) -> None:
        """Other databases: simple_history's bulk helpers (``bulk``)."""
        now = timezone.now()
        history = {"user": self.actor, "reason": self.change_reason, "when": now}
        for values in created:
            values["created_at"] = values["updated_at"] = now
        bulk.insert_with_history(Item, created, **history)
        for values in updated:
            values["updated_at"] = now
        bulk.update_with_history(Item, updated, fields | {"updated_at"}, **history)
        rows = [{**self.refs.barcode_defaults, "item_id": v["id"], "code": c, "kind": k} for v, c, k in barcodes]
        bulk.insert_with_history(Barcode, rows, **history)

"""django-import-export resources of the catalog: items, categories, warehouses and locations.

Thin adapters (STYLE.md): every row goes through the same parser as the ``import_*`` commands
(``catalog.importing``), then through the services (``item_save``, ``category_save``) or
``full_clean`` + ``save``, with the importing user in the history. The admin shows a dry-run
preview (new / updated / unchanged / error per row, errors with row number, column and reason)
and writes all rows or none. Exports write the same columns the import reads, with cells that
a spreadsheet would run as a formula neutralised.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import tablib
from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.formats import base_formats
from import_export.results import RowResult

from .importing.categories import (
    CATEGORY_COLUMNS,
    CategorySpec,
    CategoryWriter,
    iter_category_export_rows,
    parse_category_row,
)
from .importing.items import (
    COLUMN_OF,
    ITEM_COLUMNS,
    ITEM_FIELDS,
    DuplicateTracker,
    ItemRefs,
    apply_item_spec,
    barcode_owners_for,
    category_path_normalize,
    iter_item_export_rows,
    parse_item_row,
    resolve_item_refs,
)
from .importing.locations import (
    LOCATION_COLUMNS,
    LocationSpec,
    LocationWriter,
    iter_location_export_rows,
    parse_location_row,
    validation_errors,
)
from .importing.reading import ImportFileError, clean_cell, header_key, open_table
from .importing.runner import RowError, map_headers, row_text_errors
from .importing.writing import table_bytes
from .models import Barcode, Category, Item, Location, normalize_code, normalize_sku
from .services import item_save

ALL_COLUMNS = frozenset(ITEM_COLUMNS + CATEGORY_COLUMNS + LOCATION_COLUMNS) | {
    "warehouse",
    "location",
    "quantity",
    "unit_cost",
    "lot",
    "expiry",
}


# --- File formats ------------------------------------------------------------------------------


def dataset_from_bytes(data: bytes, fmt: str | None = None) -> tablib.Dataset:
    """A tablib Dataset of a CSV or XLSX upload, read like the commands read files (encoding,
    delimiter and format detected). ``dataset.file_rows`` holds each row's number in the file."""
    with open_table(io.BytesIO(data), fmt=fmt, known=ALL_COLUMNS) as table:
        headers = [h or f"column {i + 1}" for i, h in enumerate(table.headers)]
        width = len(headers)
        dataset = tablib.Dataset(headers=headers)
        file_rows = []
        for row, cells in table.rows():
            cells = [clean_cell(c) for c in cells[:width]]
            if not any(cells):
                continue
            dataset.append(cells + [""] * (width - len(cells)))
            file_rows.append(row)
    if not file_rows:
        raise ImportFileError("The file has a header row but no data rows: nothing to import.")
    dataset.file_rows = file_rows
    return dataset


class _InventoryFormat(base_formats.Format):
    """A format of the admin's import and export: reading detects CSV or XLSX by content
    (whichever was chosen), exporting neutralises formulas."""

    fmt = "csv"
    content_type = "text/csv"

    def __init__(self, encoding: str | None = None) -> None:
        self.encoding = encoding

    def get_title(self) -> str:
        return self.fmt

    def create_dataset(self, in_stream: bytes | str) -> tablib.Dataset:
        data = in_stream.encode("utf-8") if isinstance(in_stream, str) else in_stream
        return dataset_from_bytes(data)

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        return table_bytes(
            self.fmt, list(dataset.headers or []), dataset, title=getattr(dataset, "title", "") or "export"
        )

    def is_binary(self) -> bool:
        return True

    def get_read_mode(self) -> str:
        return "rb"

    def get_extension(self) -> str:
        return self.fmt

    def get_content_type(self) -> str:
        return self.content_type

    def can_import(self) -> bool:
        return True

    def can_export(self) -> bool:
        return True


class CSVFormat(_InventoryFormat):
    fmt = "csv"
    content_type = "text/csv"


class XLSXFormat(_InventoryFormat):
    fmt = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


FORMATS = [CSVFormat, XLSXFormat]


# --- Shared resource machinery ------------------------------------------------------------------


class RowRejected(ValidationError):
    """A row's RowErrors as the ValidationError django-import-export shows (by column)."""

    def __init__(self, errors: list[RowError]) -> None:
        by_column: dict[str, list[str]] = {}
        for error in errors:
            text = (
                error.message
                if not error.value or error.value in error.message
                else f"{error.value!r}: {error.message}"
            )
            by_column.setdefault(error.column or "row", []).append(text)
        super().__init__(by_column)


class ServiceResource(resources.ModelResource):
    """Base of the inventory resources. Subclasses set ``columns``/``required`` and implement
    ``find`` (the instance a row names, and whether it is new), ``prepare`` (parse and
    validate with the shared parser; raise ``RowRejected``; return the row's label and whether
    it changes anything) and ``write`` (save through the service). Rows are numbered as in the
    file; ``result.inventory_report`` is the per-row preview the admin template shows."""

    columns: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    export_title: ClassVar[str] = "export"

    class Meta:
        skip_unchanged = True
        report_skipped = True
        skip_diff = True
        clean_model_instances = False
        use_transactions = True
        import_id_fields: ClassVar[list[str]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.options = kwargs
        self.user = None
        self.file_name = ""
        self.file_rows: list[int] = []
        self.warnings: list[str] = []
        self.rows_info: list[dict[str, Any]] = []
        self._current: dict[str, Any] = {}

    @classmethod
    def get_display_name(cls) -> str:
        return cls.export_title

    # import -------------------------------------------------------------------------------

    def before_import(self, dataset: tablib.Dataset, **kwargs: Any) -> None:
        self.user = kwargs.get("user")
        self.file_name = kwargs.get("file_name") or ""
        self.file_rows = list(getattr(dataset, "file_rows", None) or range(2, len(dataset) + 2))
        headers = list(dataset.headers or [])
        positions, self.warnings, errors = map_headers(headers, self.columns, self.required)
        by_index = {index: column for column, index in positions}
        dataset.headers = [by_index.get(i, f"ignored: {h}") for i, h in enumerate(headers)]
        self.start()
        if errors:
            while len(dataset):
                del dataset[0]
            raise ImportFileError(" ".join(e.message for e in errors))

    def start(self) -> None:
        """Per-import state (caches, duplicate trackers)."""

    def before_import_row(self, row: dict[str, Any], **kwargs: Any) -> None:
        number = kwargs.get("row_number") or 1
        self._current = {"row": self.file_rows[number - 1] if number <= len(self.file_rows) else number + 1}
        self._current.update(label="", details=[])
        self.rows_info.append(self._current)

    def raw(self, row: dict[str, Any]) -> dict[str, str]:
        """The row's cells by column (cleaned when read); RowRejected when a cell breaks the
        input-hygiene rule, before anything looks the row up."""
        raw = {c: str(row.get(c) or "").strip() for c in self.columns if c in row}
        if errors := row_text_errors(raw, row=self._current["row"]):
            raise RowRejected(errors)
        return raw

    def get_or_init_instance(self, instance_loader: Any, row: dict[str, Any]) -> tuple[Any, bool]:
        return self.find(self.raw(row))

    def import_instance(self, instance: Any, row: dict[str, Any], **kwargs: Any) -> None:
        label, changes = self.prepare(instance, self.raw(row), self._current["row"])
        self._current["label"] = label
        self._current["details"] = changes
        instance._import_unchanged = changes is None

    def skip_row(self, instance: Any, original: Any, row: Any, import_validation_errors: Any = None) -> bool:
        return not import_validation_errors and getattr(instance, "_import_unchanged", False)

    def do_instance_save(self, instance: Any, is_create: bool) -> None:
        self.write(instance, is_create)

    def after_import(self, dataset: tablib.Dataset, result: Any, **kwargs: Any) -> None:
        report = []
        for info, row_result in zip(self.rows_info, result.rows, strict=False):
            status = {
                RowResult.IMPORT_TYPE_NEW: "new",
                RowResult.IMPORT_TYPE_UPDATE: "updated",
                RowResult.IMPORT_TYPE_SKIP: "unchanged",
            }.get(row_result.import_type, "error")
            details = list(info["details"] or [])
            if row_result.validation_error is not None:
                error = row_result.validation_error
                pairs = error.message_dict.items() if hasattr(error, "error_dict") else [("row", error.messages)]
                details = [f"column {column}: {message}" for column, messages in pairs for message in messages]
            elif row_result.errors:
                details = [str(e.error) for e in row_result.errors]
            elif status == "updated" and details:
                details = [f"changes {', '.join(details)}"]
            elif status != "updated":
                details = []
            report.append({"row": info["row"], "status": status, "label": info["label"], "details": details})
        result.inventory_report = report
        result.inventory_warnings = self.warnings
        counts = {"new": 0, "updated": 0, "unchanged": 0, "error": 0}
        for entry in report:
            counts[entry["status"]] += 1
        result.inventory_counts = counts

    # subclass hooks -------------------------------------------------------------------------

    def find(self, raw: dict[str, str]) -> tuple[Any, bool]:
        raise NotImplementedError

    def prepare(self, instance: Any, raw: dict[str, str], row: int) -> tuple[str, list[str] | None]:
        """(label, changed columns; None when the row changes nothing); raise RowRejected."""
        raise NotImplementedError

    def write(self, instance: Any, is_create: bool) -> None:
        raise NotImplementedError

    def history_user(self, obj: Any) -> Any:
        if self.user is not None and getattr(self.user, "pk", None):
            obj._history_user = self.user
        return obj

    # export -------------------------------------------------------------------------------

    def export_rows(self, queryset: Any) -> Any:
        raise NotImplementedError

    def export(self, queryset: Any = None, **kwargs: Any) -> tablib.Dataset:
        dataset = tablib.Dataset(headers=list(self.columns), title=self.export_title)
        for row in self.export_rows(queryset):
            dataset.append(row)
        return dataset

    def get_user_visible_fields(self) -> list[fields.Field]:
        return [fields.Field(attribute=None, column_name=c) for c in self.columns]

    def get_export_headers(self, selected_fields: Any = None) -> list[str]:
        return list(self.columns)


def model_errors(exc: ValidationError, row: int, column_of: dict[str, str], default: str) -> RowRejected:
    """A model's ValidationError (from a service's full_clean) as RowRejected, by column."""
    if not hasattr(exc, "error_dict"):
        return RowRejected([RowError(row, default, "", m) for m in exc.messages])
    return RowRejected(
        [
            RowError(row, column_of.get(name, default), "", message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    )


# --- Items -----------------------------------------------------------------------------------


class ItemResource(ServiceResource):
    """Items by SKU (ignoring case): ``parse_item_row`` and ``apply_item_spec`` validate,
    ``item_save`` saves, barcodes are added with ``full_clean``. Resource option
    ``create_categories`` creates missing category paths."""

    columns = ITEM_COLUMNS
    required = ("sku",)
    export_title = "items"

    class Meta(ServiceResource.Meta):
        model = Item
        fields: ClassVar[list[str]] = []

    def start(self) -> None:
        self.refs = ItemRefs(create_categories=bool(self.options.get("create_categories")), actor=self.user)
        self.tracker = DuplicateTracker()

    def find(self, raw: dict[str, str]) -> tuple[Item, bool]:
        sku = normalize_sku(raw.get("sku") or "")
        item = Item.objects.by_sku(sku).first() if sku else None
        return (item, False) if item is not None else (Item(), True)

    def prepare(self, instance: Item, raw: dict[str, str], row: int) -> tuple[str, list[str] | None]:
        spec = parse_item_row(raw, row=row, refs=self.refs)
        if isinstance(spec, list):
            raise RowRejected(spec)
        if errors := self.tracker.check(spec) + resolve_item_refs(spec, self.refs):
            raise RowRejected(errors)
        current = None if instance.pk is None else {a: getattr(instance, a) for a in ITEM_FIELDS}
        owners = barcode_owners_for([code for code, _ in spec.barcodes])
        change = apply_item_spec(spec, current, self.refs, barcode_owners=owners)
        if isinstance(change, list):
            raise RowRejected(change)
        for attname, value in change.values.items():
            if attname not in ("id", "created_at", "updated_at"):
                setattr(instance, attname, value)
        instance._import_barcodes = change.new_barcodes
        instance._import_row = row
        return spec.sku, None if change.unchanged else change.changed_columns

    def write(self, instance: Item, is_create: bool) -> None:
        row = instance._import_row
        try:
            item_save(item=self.history_user(instance))
            for code, kind in instance._import_barcodes:
                barcode = self.history_user(Barcode(item=instance, code=code, kind=kind))
                barcode.full_clean()
                barcode.save()
        except ValidationError as exc:
            raise model_errors(exc, row, COLUMN_OF, "sku") from exc

    def export_rows(self, queryset: Any) -> Any:
        return iter_item_export_rows(queryset)


# --- Categories ------------------------------------------------------------------------------


class CategoryResource(ServiceResource):
    """Categories by path: created (with missing parents) and updated through ``category_save``."""

    columns = CATEGORY_COLUMNS
    required = ("path",)
    export_title = "categories"

    class Meta(ServiceResource.Meta):
        model = Category
        fields: ClassVar[list[str]] = []

    def start(self) -> None:
        self.checker = CategoryWriter(actor=self.user)
        self.writer = CategoryWriter(actor=self.user)
        self.seen: dict[str, int] = {}

    def find(self, raw: dict[str, str]) -> tuple[Category, bool]:
        try:
            path = category_path_normalize(raw.get("path") or "")
        except ValueError:
            return Category(), True
        found = self.checker.by_path.get(path.casefold())
        return (found, False) if found is not None and found.pk else (Category(), True)

    def prepare(self, instance: Category, raw: dict[str, str], row: int) -> tuple[str, list[str] | None]:
        spec = parse_category_row(raw, row=row)
        if isinstance(spec, list):
            raise RowRejected(spec)
        first = self.seen.setdefault(spec.path.casefold(), row)
        if first != row:
            raise RowRejected(
                [RowError(row, "path", spec.path, f"Category {spec.path!r} is on rows {first} and {row}.")]
            )
        outcome = self.checker.save(spec, write=False)
        instance._import_spec = spec
        return spec.path, None if outcome == "unchanged" else ["valuation_method"]

    def write(self, instance: Category, is_create: bool) -> None:
        spec: CategorySpec = instance._import_spec
        try:
            self.writer.save(spec, write=True)
        except ValidationError as exc:
            raise model_errors(exc, spec.row, {"name": "path", "parent": "path"}, "path") from exc

    def export_rows(self, queryset: Any) -> Any:
        return iter_category_export_rows(queryset)


# --- Warehouses and locations ------------------------------------------------------------------


class LocationResource(ServiceResource):
    """Warehouses and internal locations (``catalog.importing.locations``): a new warehouse
    code creates the warehouse; locations are saved with ``full_clean``."""

    columns = LOCATION_COLUMNS
    required = ("warehouse", "code")
    export_title = "locations"

    class Meta(ServiceResource.Meta):
        model = Location
        fields: ClassVar[list[str]] = []

    def start(self) -> None:
        self.checker = LocationWriter(actor=self.user)
        self.writer = LocationWriter(actor=self.user)
        self.seen: dict[tuple[str, str], int] = {}

    def find(self, raw: dict[str, str]) -> tuple[Location, bool]:
        warehouse = normalize_code(raw.get("warehouse") or "").upper()
        code = normalize_code(raw.get("code") or "").upper()
        found = Location.objects.filter(warehouse__code=warehouse, code=code).first() if code else None
        return (found, False) if found is not None else (Location(), True)

    def prepare(self, instance: Location, raw: dict[str, str], row: int) -> tuple[str, list[str] | None]:
        spec = parse_location_row(raw, row=row)
        if isinstance(spec, list):
            raise RowRejected(spec)
        key = (spec.warehouse, spec.code)
        first = self.seen.setdefault(key, row)
        if spec.code and first != row:
            raise RowRejected(
                [
                    RowError(
                        row, "code", spec.code, f"Location {spec.warehouse}/{spec.code} is on rows {first} and {row}."
                    )
                ]
            )
        try:
            outcome = self.checker.save(spec, write=False)
        except ValidationError as exc:
            raise RowRejected(validation_errors(exc, spec, "code")) from exc
        instance._import_spec = spec
        label = f"{spec.warehouse}/{spec.code}" if spec.code else spec.warehouse
        return label, None if outcome == "unchanged" else [c for c in raw if c not in ("warehouse", "code")]

    def write(self, instance: Location, is_create: bool) -> None:
        spec: LocationSpec = instance._import_spec
        try:
            self.writer.save(spec, write=True)
        except ValidationError as exc:
            raise RowRejected(validation_errors(exc, spec, "code")) from exc

    def export_rows(self, queryset: Any) -> Any:
        return iter_location_export_rows(queryset, empty_warehouses=queryset is None)


__all__ = [
    "FORMATS",
    "CSVFormat",
    "CategoryResource",
    "ItemResource",
    "LocationResource",
    "RowRejected",
    "ServiceResource",
    "XLSXFormat",
    "dataset_from_bytes",
    "header_key",
]

"""Warehouses and their internal locations, one file: each row is a location of a warehouse.

Columns: ``warehouse`` (code; a new code creates the warehouse, named ``warehouse_name`` or
its code), ``code`` (the location code; a row without one only creates or renames its
warehouse), ``name``, ``parent`` (code of the parent location in the same warehouse: it must
exist or come on an earlier row), ``level`` (zone, aisle, bin, area; default bin),
``barcode`` (unique everywhere), ``active`` (default yes), ``warehouse_name``. Virtual
locations are not imported. Rows are saved one by one with ``full_clean`` (history: actor), so
what freezes once a location has stock (``catalog.freezing``) is refused here too.

Who may: creating a warehouse needs ``catalog.add_warehouse``; any row of an existing warehouse
(a location, a rename) needs the warehouse action MANAGE there, else it is a row error. Locations
of a warehouse the same import creates are allowed to whoever may create it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from catalog.models import Location, LocationKind, LocationLevel, Warehouse, normalize_code
from catalog.permissions import WarehouseAction, warehouse_allows

from . import cells
from .cells import CellError
from .runner import ImportJob, RowError

LOCATION_COLUMNS = ("warehouse", "code", "name", "parent", "level", "barcode", "active", "warehouse_name")
_LEVELS = {level.value: level.value for level in LocationLevel}
_FIELD_COLUMN = {"code": "code", "name": "name", "parent": "parent", "level": "level", "barcode": "barcode"}


@dataclass(slots=True)
class LocationSpec:
    row: int
    warehouse: str
    code: str
    values: dict[str, Any]
    parent: str | None
    warehouse_name: str | None


def parse_location_row(raw: Mapping[str, str], *, row: int) -> LocationSpec | list[RowError]:
    """The one per-row parser of locations (admin and command)."""
    errors: list[RowError] = []
    values: dict[str, Any] = {}

    def code_of(column: str, max_length: int) -> str:
        value = raw.get(column) or ""
        code = normalize_code(value).upper()
        if len(code) > max_length:
            errors.append(RowError(row, column, value, f"is {len(code)} characters long; at most {max_length} fit."))
        return code

    warehouse = code_of("warehouse", 20)
    if not warehouse:
        errors.append(RowError(row, "warehouse", "", "The warehouse code is empty: every row needs one."))
    code = code_of("code", 40)
    parent = code_of("parent", 40) or None
    if parent and parent == code:
        errors.append(RowError(row, "parent", parent, "A location cannot be its own parent."))
    for column, max_length in (("name", 120), ("warehouse_name", 120)):
        if value := raw.get(column):
            try:
                values[column] = cells.text(value, max_length=max_length)
            except CellError as exc:
                errors.append(RowError(row, column, value, str(exc)))
    if value := raw.get("level"):
        try:
            values["level"] = cells.choice(value, _LEVELS)
        except CellError as exc:
            errors.append(RowError(row, "level", value, str(exc)))
    if raw.get("barcode"):
        values["barcode"] = code_of("barcode", 64)
    if value := raw.get("active"):
        try:
            values["active"] = cells.boolean(value)
        except CellError as exc:
            errors.append(RowError(row, "active", value, str(exc)))
    if errors:
        return errors
    warehouse_name = values.pop("warehouse_name", None)
    return LocationSpec(row, warehouse, code, values, parent, warehouse_name)


class LocationWriter:
    """Saves warehouses and locations row by row; ``save`` returns "new", "updated" or
    "unchanged", or raises ValidationError keyed by column. With ``write=False`` it checks
    and classifies without writing."""

    def __init__(self, *, actor: Any = None) -> None:
        self.actor = actor
        self.warehouses = {w.code: w for w in Warehouse.objects.all()}
        self.locations: dict[tuple[str, str], Location] = {}
        self.planned: set[tuple[str, str]] = set()
        self.created: set[str] = set()  # warehouse codes this import creates (the actor may add them)

    def _save(self, obj: Warehouse | Location) -> None:
        if self.actor is not None:
            obj._history_user = self.actor
        obj.full_clean()
        obj.save()

    def _location(self, warehouse: Warehouse, code: str) -> Location | None:
        key = (warehouse.code, code)
        if key not in self.locations:
            found = Location.objects.filter(warehouse=warehouse, code=code).select_related("parent").first()
            if found is None:
                return None
            self.locations[key] = found
        return self.locations[key]

    def save(self, spec: LocationSpec, *, write: bool) -> str:
        outcome = "unchanged"
        warehouse = self.warehouses.get(spec.warehouse)
        if warehouse is None:
            if self.actor is not None and not self.actor.has_perm("catalog.add_warehouse"):
                raise ValidationError({"warehouse": f"There is no warehouse {spec.warehouse} and you may not add one."})
            warehouse = Warehouse(code=spec.warehouse, name=spec.warehouse_name or spec.warehouse)
            if write:
                self._save(warehouse)
            self.warehouses[spec.warehouse] = warehouse
            outcome = "new"
            self.created.add(spec.warehouse)
        else:
            managed = spec.warehouse in self.created or warehouse_allows(self.actor, warehouse, WarehouseAction.MANAGE)
            if not managed:
                raise ValidationError(
                    {
                        "warehouse": f"You may not edit warehouse {warehouse.code} or its locations: it needs "
                        f"'edit the warehouse and its locations' there."
                    }
                )
            if spec.warehouse_name and warehouse.name != spec.warehouse_name:
                warehouse.name = spec.warehouse_name
                if write:
                    self._save(warehouse)
                outcome = "updated"
        if not spec.code:
            return outcome
        key = (spec.warehouse, spec.code)
        location = self._location(warehouse, spec.code) if warehouse.pk else None
        parent = None
        if spec.parent:
            parent = self._location(warehouse, spec.parent) if warehouse.pk else None
            if parent is None and (spec.warehouse, spec.parent) not in self.planned:
                raise ValidationError(
                    {
                        "parent": f"There is no location {spec.parent} in warehouse {spec.warehouse} "
                        "(a parent must exist or come on an earlier row)."
                    }
                )
        if location is None:
            if key in self.planned:
                return outcome
            self.planned.add(key)
            location = Location(warehouse=warehouse, code=spec.code, kind=LocationKind.INTERNAL)
            changed = True
            outcome = "new"
        else:
            changed = False
        if spec.parent and parent is not None and location.parent_id != parent.pk:
            location.parent = parent
            changed = True
        for attname, value in spec.values.items():
            if getattr(location, attname) != value:
                setattr(location, attname, value)
                changed = True
        if changed and outcome == "unchanged":
            outcome = "updated"
        if changed and write:
            self._save(location)
            self.locations[key] = location
        return outcome


def validation_errors(exc: ValidationError, spec: Any, default_column: str) -> list[RowError]:
    """A model ValidationError as RowErrors, keyed by the import's columns."""
    if not hasattr(exc, "error_dict"):
        return [RowError(spec.row, default_column, "", " ".join(exc.messages))]
    errors = []
    for name, messages in exc.message_dict.items():
        column = _FIELD_COLUMN.get(name, default_column)
        errors.extend(RowError(spec.row, column, "", message) for message in messages)
    return errors


class LocationsJob(ImportJob):
    label = "locations"
    columns = LOCATION_COLUMNS
    required = ("warehouse", "code")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writer = LocationWriter(actor=self.actor)
        self.seen: dict[tuple[str, str], int] = {}
        self.barcodes: dict[str, int] = {}
        self.names: dict[str, tuple[str, int]] = {}

    def parse(self, raw: dict[str, str], row: int) -> LocationSpec | list[RowError]:
        spec = parse_location_row(raw, row=row)
        if isinstance(spec, list):
            return spec
        errors = []
        if spec.code:
            first = self.seen.setdefault((spec.warehouse, spec.code), row)
            if first != row:
                errors.append(
                    RowError(
                        row, "code", spec.code, f"Location {spec.warehouse}/{spec.code} is on rows {first} and {row}."
                    )
                )
        if barcode := spec.values.get("barcode"):
            first = self.barcodes.setdefault(barcode, row)
            if first != row:
                errors.append(RowError(row, "barcode", barcode, f"Barcode {barcode} is on rows {first} and {row}."))
        if spec.warehouse_name:
            name, first = self.names.setdefault(spec.warehouse, (spec.warehouse_name, row))
            if name != spec.warehouse_name:
                errors.append(
                    RowError(
                        row,
                        "warehouse_name",
                        spec.warehouse_name,
                        f"Warehouse {spec.warehouse} is named {name!r} on row {first}: one name per warehouse.",
                    )
                )
        return errors or spec

    def flush(self, specs: list[LocationSpec], *, write: bool) -> list[RowError]:
        errors: list[RowError] = []
        for spec in specs:
            try:
                outcome = self.writer.save(spec, write=write and not errors)
            except ValidationError as exc:
                errors.extend(validation_errors(exc, spec, "code"))
                continue
            setattr(self.counts, outcome, getattr(self.counts, outcome) + 1)
        return errors


def iter_location_export_rows(queryset: Any = None, *, empty_warehouses: bool = True) -> Iterator[list[str]]:
    """The internal locations of ``queryset`` (default: all), parents before their children,
    with their warehouse, and (``empty_warehouses``) a row for each warehouse that has no
    location; the columns of ``LOCATION_COLUMNS``."""
    queryset = Location.objects.internal() if queryset is None else queryset.filter(kind=LocationKind.INTERNAL)
    locations = list(queryset.select_related("warehouse", "parent").order_by("warehouse__code", "code"))
    children: dict[int | None, list[Location]] = {}
    ids = {location.pk for location in locations}
    for location in locations:
        parent = location.parent_id if location.parent_id in ids else None
        children.setdefault(parent, []).append(location)
    with_locations = set()

    def walk(parent: int | None) -> Iterator[Location]:
        for location in children.get(parent, []):
            yield location
            yield from walk(location.pk)

    for location in walk(None):
        with_locations.add(location.warehouse_id)
        yield [
            location.warehouse.code,
            location.code,
            location.name,
            location.parent.code if location.parent_id else "",
            location.level,
            location.barcode or "",
            "true" if location.active else "false",
            location.warehouse.name,
        ]
    if empty_warehouses:
        for warehouse in Warehouse.objects.exclude(pk__in=with_locations).order_by("code"):
            yield [warehouse.code, "", "", "", "", "", "", warehouse.name]

"""Opening balances: import them (admin and ``import_opening_balances``) as receipts posted
through ``stock.services.movement_post``, and export stock on hand in the same columns.

Columns: ``sku``, ``warehouse``, ``location`` (code in that warehouse), ``quantity`` (> 0, base
units, up to 4 decimals), ``unit_cost`` (empty: the item's standard cost), ``lot`` (required
for lot- and serial-tracked items, refused for others), ``expiry`` (ISO date, required for the
lots of perishable items).

Each row becomes one receipt from the supplier location, with ``reference_type``
``stock.opening-balance``, ``reference_id`` a hash of the file's name and ``reference_line``
the row number, posted by the importing user (``actor``; None is the system), who needs
``stock.add_movement`` and the right to post in the warehouse (the services check it). A row
already posted from a file of the same name is not posted again (re-running an import posts
nothing twice); if it differs from what was posted, that is an error. Batches of up to 1000
rows are posted together with an idempotency key made of the same hash and the row range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from catalog.importing import cells
from catalog.importing.cells import CellError
from catalog.importing.items import format_decimal, items_by_key
from catalog.importing.runner import ImportJob, RowError
from catalog.models import (
    Item,
    ItemStatus,
    Location,
    LocationKind,
    Tracking,
    Warehouse,
    normalize_code,
    normalize_sku,
)
from catalog.permissions import WarehouseAction, warehouse_allows
from catalog.resources import RowRejected, ServiceResource
from catalog.units import quantity_problem

from .models import ItemValuation, Movement, StockLevel
from .services import MovementLine, StockError, movement_post, receipt_line

OPENING_BALANCE_COLUMNS = ("sku", "warehouse", "location", "quantity", "unit_cost", "lot", "expiry")
REFERENCE_TYPE = "stock.opening-balance"
POST_BATCH = 1000


def source_key(file_name: str) -> str:
    """The hash that names a file's opening balances (``reference_id``, idempotency keys)."""
    return hashlib.sha256(Path(file_name or "upload").name.encode("utf-8")).hexdigest()[:16]


@dataclass(slots=True)
class OpeningBalanceSpec:
    row: int
    sku: str
    key: str
    warehouse: str
    location: str
    quantity: Decimal
    unit_cost: Decimal | None
    lot: str
    expiry: date | None


def parse_opening_balance_row(raw: Mapping[str, str], *, row: int) -> OpeningBalanceSpec | list[RowError]:
    """The one per-row parser of opening balances (admin and command): cells only."""
    errors: list[RowError] = []
    sku = normalize_sku(raw.get("sku") or "")
    if not sku:
        errors.append(RowError(row, "sku", "", "The SKU is empty: every row needs one."))
    warehouse = normalize_code(raw.get("warehouse") or "").upper()
    if not warehouse:
        errors.append(RowError(row, "warehouse", "", "The warehouse code is empty: every row needs one."))
    location = normalize_code(raw.get("location") or "").upper()
    if not location:
        errors.append(RowError(row, "location", "", "The location code is empty: every row needs one."))
    quantity = unit_cost = expiry = None
    if not (value := raw.get("quantity") or ""):
        errors.append(RowError(row, "quantity", "", "The quantity is empty: every row needs one."))
    else:
        try:
            quantity = cells.decimal(value, positive=True)
        except CellError as exc:
            errors.append(RowError(row, "quantity", value, str(exc)))
    if value := raw.get("unit_cost"):
        try:
            unit_cost = cells.decimal(value, minimum=Decimal(0))
        except CellError as exc:
            errors.append(RowError(row, "unit_cost", value, str(exc)))
    lot = (raw.get("lot") or "").strip()
    if len(lot) > 64:
        errors.append(RowError(row, "lot", lot[:30], "A lot code has at most 64 characters."))
    if value := raw.get("expiry"):
        try:
            expiry = cells.iso_date(value)
        except CellError as exc:
            errors.append(RowError(row, "expiry", value, str(exc)))
    if errors:
        return errors
    return OpeningBalanceSpec(row, sku, sku.lower(), warehouse, location, quantity, unit_cost, lot, expiry)


@dataclass(slots=True)
class ResolvedBalance:
    spec: OpeningBalanceSpec
    item: Item
    location: Location


class OpeningBalanceRefs:
    """Warehouses and internal locations by code (loaded once) and the checks that need the
    item, the location and the actor."""

    def __init__(self, *, actor: Any = None) -> None:
        self.actor = actor
        self.warehouses = {w.code: w for w in Warehouse.objects.all()}
        self.locations = {
            (loc.warehouse.code, loc.code): loc
            for loc in Location.objects.filter(kind=LocationKind.INTERNAL).select_related("warehouse")
        }
        self.may_post = actor is None or actor.has_perm("stock.add_movement")
        self._allowed: dict[int, bool] = {}

    def resolve(self, spec: OpeningBalanceSpec, item: Item | None) -> ResolvedBalance | list[RowError]:
        row, errors = spec.row, []
        if item is None:
            errors.append(RowError(row, "sku", spec.sku, f"There is no item {spec.sku!r}."))
        warehouse = self.warehouses.get(spec.warehouse)
        location = self.locations.get((spec.warehouse, spec.location))
        if warehouse is None:
            errors.append(RowError(row, "warehouse", spec.warehouse, f"There is no warehouse {spec.warehouse}."))
        elif location is None:
            errors.append(
                RowError(row, "location", spec.location, f"Warehouse {spec.warehouse} has no location {spec.location}.")
            )
        if warehouse is not None:
            allowed = self._allowed.get(warehouse.pk)
            if allowed is None:
                allowed = self._allowed[warehouse.pk] = self.may_post and warehouse_allows(
                    self.actor, warehouse, WarehouseAction.POST
                )
            if not allowed:
                errors.append(
                    RowError(row, "warehouse", spec.warehouse, f"You may not post stock in warehouse {spec.warehouse}.")
                )
            elif not warehouse.active or (location is not None and not location.active):
                errors.append(
                    RowError(row, "location", spec.location, f"Location {location or warehouse} is inactive.")
                )
        if item is not None:
            if item.status == ItemStatus.DISCONTINUED:
                errors.append(RowError(row, "sku", spec.sku, f"{item.sku} is discontinued: it cannot be received."))
            if item.tracking == Tracking.NONE:
                if spec.lot:
                    errors.append(
                        RowError(row, "lot", spec.lot, f"{item.sku} is not lot-tracked: leave the lot empty.")
                    )
                if spec.expiry:
                    errors.append(
                        RowError(
                            row,
                            "expiry",
                            str(spec.expiry),
                            f"{item.sku} is not lot-tracked: expiry dates belong to lots.",
                        )
                    )
            else:
                if not spec.lot:
                    errors.append(
                        RowError(
                            row,
                            "lot",
                            "",
                            f"{item.sku} is {item.get_tracking_display().lower()}-tracked: give its lot.",
                        )
                    )
                if item.perishable and spec.expiry is None:
                    errors.append(RowError(row, "expiry", "", f"{item.sku} is perishable: give the lot's expiry date."))
                if item.tracking == Tracking.SERIAL and spec.quantity != spec.quantity.to_integral_value():
                    errors.append(
                        RowError(
                            row, "quantity", str(spec.quantity), f"{item.sku} is serial-tracked: whole units only."
                        )
                    )
            if item.tracking != Tracking.SERIAL and (problem := quantity_problem(item, spec.quantity)):
                errors.append(RowError(row, "quantity", str(spec.quantity), problem.message))  # the unit's rule
        if errors:
            return errors
        return ResolvedBalance(spec=spec, item=item, location=location)  # type: ignore[arg-type]


def posted_rows(source: str, rows: list[int]) -> dict[int, Movement]:
    """Movements already posted for these rows of the file named by ``source``."""
    found = Movement.objects.filter(
        reference_type=REFERENCE_TYPE, reference_id=source, reference_line__in=[str(r) for r in rows]
    ).select_related("lot")
    return {int(m.reference_line): m for m in found}


def already_posted(balance: ResolvedBalance, movement: Movement) -> list[RowError]:
    """[] if ``movement`` is what this row would post; otherwise the error that says so."""
    spec = balance.spec
    same = (
        movement.item_id == balance.item.pk
        and movement.destination_id == balance.location.pk
        and movement.quantity == spec.quantity
        and (movement.lot.code if movement.lot_id else "") == spec.lot
    )
    if same:
        return []
    return [
        RowError(
            spec.row,
            "",
            "",
            f"Row {spec.row} of a file with this name was already imported with other values (movement "
            f"#{movement.pk}): import the new balances from a file with another name.",
        )
    ]


def opening_balances_post(
    balances: list[ResolvedBalance], *, actor: Any, source: str, file_name: str = ""
) -> list[RowError]:
    """Post the balances as receipts (see the module), ``POST_BATCH`` lines per
    ``movement_post``; returns the rows' errors (lots that conflict, refusals)."""
    errors: list[RowError] = []
    lines: list[tuple[int, MovementLine]] = []
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)
    for balance in balances:
        spec, item = balance.spec, balance.item
        try:
            line = receipt_line(
                item=item,
                quantity=spec.quantity,
                destination=balance.location,
                occurred_at=None,  # received today
                lot=spec.lot or None,
                expiry_date=spec.expiry,
                unit_cost=spec.unit_cost,
                reference_type=REFERENCE_TYPE,
                reference_id=source,
                reference_line=str(spec.row),
                note=f"Opening balance from {file_name}" if file_name else "Opening balance",
                supplier=supplier,
            )
        except StockError as exc:  # the lot conflicts (another expiry) or lacks one
            errors.append(RowError(spec.row, "expiry" if spec.expiry else "lot", spec.lot, exc.message))
            continue
        lines.append((spec.row, line))
    if errors:
        return errors
    for start in range(0, len(lines), POST_BATCH):
        chunk = lines[start : start + POST_BATCH]
        key = f"opening-balance:{source}:{chunk[0][0]}-{chunk[-1][0]}"
        try:
            movement_post(lines=[line for _, line in chunk], actor=actor, idempotency_key=key)
        except StockError as exc:
            errors.append(
                RowError(chunk[0][0], "", "", f"Rows {chunk[0][0]}-{chunk[-1][0]} were refused: {exc.message}")
            )
    return errors


class DuplicateBalances:
    """An (item, warehouse, location, lot) on two rows of one file is an error naming both."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str, str], int] = {}

    def check(self, spec: OpeningBalanceSpec) -> list[RowError]:
        first = self.seen.setdefault((spec.key, spec.warehouse, spec.location, spec.lot), spec.row)
        if first == spec.row:
            return []
        where = f"{spec.warehouse}/{spec.location}" + (f" lot {spec.lot}" if spec.lot else "")
        return [RowError(spec.row, "sku", spec.sku, f"{spec.sku} at {where} is on rows {first} and {spec.row}.")]


class OpeningBalancesJob(ImportJob):
    """``import_opening_balances``: rows resolved per batch, posted per batch of 1000."""

    label = "opening balances"
    columns = OPENING_BALANCE_COLUMNS
    required = ("sku", "warehouse", "location", "quantity")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refs = OpeningBalanceRefs(actor=self.actor)
        self.duplicates = DuplicateBalances()
        self.source = source_key(self.source_name)

    def parse(self, raw: dict[str, str], row: int) -> OpeningBalanceSpec | list[RowError]:
        spec = parse_opening_balance_row(raw, row=row)
        if isinstance(spec, list):
            return spec
        return self.duplicates.check(spec) or spec

    def flush(self, specs: list[OpeningBalanceSpec], *, write: bool) -> list[RowError]:
        found = items_by_key([s.key for s in specs])
        items = {
            i.pk: i for i in Item.objects.select_related("base_unit").filter(pk__in=[v["id"] for v in found.values()])
        }
        posted = posted_rows(self.source, [s.row for s in specs])
        errors: list[RowError] = []
        to_post: list[ResolvedBalance] = []
        for spec in specs:
            values = found.get(spec.key)
            balance = self.refs.resolve(spec, items.get(values["id"]) if values else None)
            if isinstance(balance, list):
                errors.extend(balance)
            elif spec.row in posted:
                problems = already_posted(balance, posted[spec.row])
                errors.extend(problems)
                if not problems:
                    self.counts.unchanged += 1
            else:
                to_post.append(balance)
                self.counts.new += 1
        if write and not errors and to_post:
            errors.extend(
                opening_balances_post(to_post, actor=self.actor, source=self.source, file_name=self.source_name)
            )
        return errors


# --- Admin resource ------------------------------------------------------------------------------


class OpeningBalanceResource(ServiceResource):
    """Opening balances in the admin (Stock levels > Import): each valid row is posted through
    ``opening_balances_post`` by the importing user; export writes the on-hand stock of the
    listed levels in the same columns (unit cost: the warehouse's average cost)."""

    columns = OPENING_BALANCE_COLUMNS
    required = ("sku", "warehouse", "location", "quantity")
    export_title = "opening balances"

    class Meta(ServiceResource.Meta):
        model = StockLevel
        fields: ClassVar[list[str]] = []

    def start(self) -> None:
        self.refs = OpeningBalanceRefs(actor=self.user)
        self.duplicates = DuplicateBalances()
        self.source = source_key(self.file_name)

    def find(self, raw: dict[str, str]) -> tuple[StockLevel, bool]:
        return StockLevel(), True

    def prepare(self, instance: StockLevel, raw: dict[str, str], row: int) -> tuple[str, list[str] | None]:
        spec = parse_opening_balance_row(raw, row=row)
        if isinstance(spec, list):
            raise RowRejected(spec)
        if errors := self.duplicates.check(spec):
            raise RowRejected(errors)
        balance = self.refs.resolve(spec, Item.objects.by_sku(spec.sku).select_related("base_unit").first())
        if isinstance(balance, list):
            raise RowRejected(balance)
        label = f"{spec.sku} at {spec.warehouse}/{spec.location}"
        previous = posted_rows(self.source, [row]).get(row)
        if previous is not None:
            if problems := already_posted(balance, previous):
                raise RowRejected(problems)
            return label, None
        instance._import_balance = balance
        return label, ["quantity"]

    def write(self, instance: StockLevel, is_create: bool) -> None:
        balance: ResolvedBalance = instance._import_balance
        user = self.user if getattr(self.user, "pk", None) else None
        errors = opening_balances_post([balance], actor=user, source=self.source, file_name=self.file_name)
        if errors:
            raise RowRejected(errors)

    def export_rows(self, queryset: Any) -> Iterator[list[str]]:
        return iter_opening_balance_rows(queryset)


def iter_opening_balance_rows(queryset: Any = None) -> Iterator[list[str]]:
    """On-hand stock of internal locations (per item, location, lot) as opening-balance rows."""
    queryset = StockLevel.objects.all() if queryset is None else queryset
    levels = (
        queryset.filter(location__kind=LocationKind.INTERNAL, on_hand__gt=0)
        .select_related("item", "location__warehouse", "lot")
        .order_by("item__sku", "location__warehouse__code", "location__code", "lot__code")
    )
    costs: dict[tuple[int, int], Decimal] = {}
    for valuation in ItemValuation.objects.filter(quantity__gt=0):
        costs[(valuation.item_id, valuation.warehouse_id)] = valuation.value / valuation.quantity
    for level in levels.iterator(chunk_size=2000):
        cost = costs.get((level.item_id, level.location.warehouse_id))
        yield [
            level.item.sku,
            level.location.warehouse.code,
            level.location.code,
            format_decimal(level.on_hand),
            format_decimal(cost.quantize(Decimal("0.0001"))) if cost is not None else "",
            level.lot.code if level.lot_id else "",
            level.lot.expiry_date.isoformat() if level.lot_id and level.lot.expiry_date else "",
        ]


__all__ = [
    "OPENING_BALANCE_COLUMNS",
    "OpeningBalanceResource",
    "OpeningBalancesJob",
    "iter_opening_balance_rows",
    "opening_balances_post",
    "parse_opening_balance_row",
    "source_key",
]

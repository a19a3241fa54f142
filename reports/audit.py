"""The audit trail: one list of who did what and when, newest first.

Three kinds of source are merged:

- the **ledger**: every ``stock.Movement`` (who = ``actor``, when = ``posted_at``);
- **master data**: the django-simple-history records of every model that keeps history (who =
  ``history_user``, when = ``history_date``, ``+`` created, ``~`` changed, ``-`` deleted; changes
  carry their field-by-field differences). Models are discovered from the app registry, so a
  model that gains ``HistoricalRecords`` later appears here without a change to this module;
- **access rights**: every grant and revoke of a warehouse right (``catalog.WarehouseAccessChange``,
  written by ``catalog.access``; who = the actor, when = ``at``, to whom in the object column).

Efficiency: each source is queried with the filters, newest first, and read only up to a limit
(the end of the page asked for) or, for the CSV export, in keyset chunks; ``heapq.merge``
merges the sources by timestamp. No table is read whole into memory. Field differences are
worked out only for the entries shown, with one query per model for the previous records.

The ledger is read newest first by primary key, not by ``posted_at`` (which has no index: a
first page sorted the whole table, 4.5 s at 1M movements; by key it reads a few index pages).
Ids come from a sequence when the row is inserted, so they are posting order; ``posted_at`` is
taken a moment before, inside the posting's transaction. Two postings running at the same time
may therefore have ids in one order and ``posted_at`` in the other, by at most the time a posting
takes: the trail lists them in id order and shows each one's own ``posted_at``. To merge with the
other sources by time, a movement counts at the earliest ``posted_at`` seen so far down the id
order (never later than one listed above it), so such a pair sits together, never out of place
among the others by more than that moment.

Warehouse scoping (``catalog.permissions``): a user sees the movements that touch a warehouse
where they may view stock, and the history of rows tied to such a warehouse (the warehouse
itself, its locations, and any tracked model with a foreign key to a warehouse or a location)
and the access changes of such a warehouse.
History of rows tied to no warehouse (items, categories, units, barcodes, the virtual
locations) is master data that everyone allowed on the page sees; a lot's history is scoped like
the lot (``stock.selectors.lots_visible``: the warehouses it moved in or out of).

Read-only: nothing here writes.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from itertools import islice
from typing import Any, NamedTuple

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from simple_history.models import DeletedObject

from catalog.access import warehouse_rights
from catalog.models import Item, Location, Warehouse, WarehouseAccessChange, normalize_sku
from catalog.permissions import WarehouseAction, scope_to_warehouses, warehouse_allows, warehouses_for
from catalog.units import format_quantity
from common.actors import Actor
from stock.models import Lot, Movement
from stock.selectors import lots_visible

LEDGER = "ledger"
MASTER_DATA = "master"
ACCESS = "access"
KIND_CHOICES = [(LEDGER, "Ledger"), (MASTER_DATA, "Master data"), (ACCESS, "Access rights")]
KIND_LABELS = dict(KIND_CHOICES)

HISTORY_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
SYSTEM = "(system)"  # no user: a migration, a management command, a task
CHUNK = 500  # rows per query when exporting everything
_WAREHOUSE_ALIAS = "audit_warehouse_{}"


@dataclass(frozen=True)
class AuditFilters:
    """What to show; empty values do not filter. ``kind`` is ``LEDGER``, ``MASTER_DATA``,
    ``ACCESS`` or ``""`` (all). ``user`` is who did it."""

    user: Actor | None = None
    warehouse: Warehouse | None = None
    sku: str = ""
    date_from: date | None = None
    date_to: date | None = None
    kind: str = ""


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass
class AuditEntry:
    """One line of the audit trail, ready to show or export."""

    when: datetime
    kind: str  # LEDGER, MASTER_DATA or ACCESS
    who: str
    action: str  # "posted", "created", "changed", "deleted", "granted", "revoked"
    object_type: str
    object_label: str
    what: str
    warehouse: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


@dataclass(frozen=True)
class HistorySource:
    """A model with simple-history records and how its records relate to warehouses and items.

    ``warehouse_lookups`` and ``item_lookups`` are lookups on the historical model that end in
    a warehouse's or an item's primary key (``"id"``, ``"warehouse_id"``,
    ``"location__warehouse_id"``); empty when the model relates to none."""

    model: type[models.Model]
    history_model: type[models.Model]
    warehouse_lookups: tuple[str, ...]
    item_lookups: tuple[str, ...]
    related: tuple[str, ...]

    @property
    def object_type(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def pk_name(self) -> str:
        return self.model._meta.pk.attname


class _Row(NamedTuple):
    """A record read from a source, before it is described: enough to merge by time."""

    when: datetime
    rank: int  # the source's position: breaks ties between sources deterministically
    pk: int
    source: HistorySource | str | None  # None: the ledger; ACCESS: access changes
    record: Any


@cache
def history_sources() -> tuple[HistorySource, ...]:
    """Every installed model that keeps simple-history records, in app-registry order."""
    sources = []
    for model in apps.get_models():
        manager_name = getattr(model._meta, "simple_history_manager_attribute", None)
        if not manager_name:
            continue
        history_model = getattr(model, manager_name).model
        warehouse_lookups: list[str] = ["id"] if model is Warehouse else []
        item_lookups: list[str] = ["id"] if model is Item else []
        related: list[str] = []
        for model_field in history_model._meta.concrete_fields:
            if not model_field.many_to_one or model_field.name == "history_user":
                continue
            related.append(model_field.name)
            target = model_field.related_model
            if target is Warehouse:
                warehouse_lookups.append(model_field.attname)
            elif target is Location and model is not Location:
                warehouse_lookups.append(f"{model_field.name}__warehouse_id")
                related.append(f"{model_field.name}__warehouse")
            elif target is Item:
                item_lookups.append(model_field.attname)
        sources.append(
            HistorySource(
                model=model,
                history_model=history_model,
                warehouse_lookups=tuple(warehouse_lookups),
                item_lookups=tuple(item_lookups),
                related=tuple(related),
            )
        )
    return tuple(sources)


# --- Reading the sources -------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _date_range(field_name: str, filters: AuditFilters) -> Q:
    condition = Q()
    if filters.date_from:
        condition &= Q(**{f"{field_name}__gte": _day_start(filters.date_from)})
    if filters.date_to:
        condition &= Q(**{f"{field_name}__lt": _day_start(filters.date_to + timedelta(days=1))})
    return condition


def _touching(warehouses: QuerySet[Warehouse] | Warehouse) -> Q:
    """Movements into or out of these warehouses, by location id (a condition on the movement's
    own columns, so the newest-first read stays on the primary key's index; joining the
    locations to filter made the database sort the whole ledger)."""
    if isinstance(warehouses, Warehouse):
        locations = Location.objects.filter(warehouse=warehouses).values("pk")
    else:
        locations = Location.objects.filter(warehouse__in=warehouses).values("pk")
    return Q(source_id__in=locations) | Q(destination_id__in=locations)


def _movements(user: Actor | None, filters: AuditFilters) -> QuerySet[Movement]:
    queryset = Movement.objects.all()
    if not warehouse_allows(user, None, WarehouseAction.VIEW):  # scoped as scope_to_warehouses would
        queryset = queryset.filter(_touching(warehouses_for(user, WarehouseAction.VIEW)))
    queryset = queryset.filter(_date_range("posted_at", filters))
    if filters.user is not None:
        queryset = queryset.filter(actor=filters.user)
    if filters.warehouse is not None:
        queryset = queryset.filter(_touching(filters.warehouse))
    if filters.sku:
        queryset = queryset.filter(item__in=Item.objects.by_sku(filters.sku))
    return queryset.select_related(
        "item__base_unit", "lot", "actor", "source__warehouse", "destination__warehouse", "reverses"
    ).order_by("-id")  # posting order, newest first: the primary key's index (see the module's docstring)


def _access_changes(user: Actor | None, filters: AuditFilters) -> QuerySet[WarehouseAccessChange] | None:
    """Grants and revokes in warehouses the user may view, newest first; None when a SKU is
    asked (rights belong to no item)."""
    if filters.sku:
        return None
    queryset = scope_to_warehouses(WarehouseAccessChange.objects.all(), user, "warehouse")
    queryset = queryset.filter(_date_range("at", filters))
    if filters.user is not None:
        queryset = queryset.filter(actor=filters.user)
    if filters.warehouse is not None:
        queryset = queryset.filter(warehouse=filters.warehouse)
    return queryset.select_related("warehouse").order_by("-at", "-id")


def _any_of(lookups: Iterable[str], suffix: str, value: object) -> Q:
    condition = Q()
    for lookup in lookups:
        condition |= Q(**{f"{lookup}{suffix}": value})
    return condition


def _history(source: HistorySource, user: Actor | None, filters: AuditFilters) -> QuerySet | None:
    """The source's records the user may see under ``filters``, newest first; None when the
    filters exclude the whole source (a warehouse or SKU asked of a model unrelated to it)."""
    queryset = source.history_model.objects.filter(_date_range("history_date", filters))
    if source.warehouse_lookups:
        if not warehouse_allows(user, None, WarehouseAction.VIEW):
            permitted = warehouses_for(user).values("pk")
            unassigned = Q(**{f"{lookup}__isnull": True for lookup in source.warehouse_lookups})
            queryset = queryset.filter(_any_of(source.warehouse_lookups, "__in", permitted) | unassigned)
        if filters.warehouse is not None:
            queryset = queryset.filter(_any_of(source.warehouse_lookups, "", filters.warehouse.pk))
        queryset = queryset.annotate(
            **{_WAREHOUSE_ALIAS.format(i): F(lookup) for i, lookup in enumerate(source.warehouse_lookups)}
        )
    elif filters.warehouse is not None:
        return None
    if source.model is Lot:  # a lot has no warehouse column: scoped like stock (lots_visible)
        queryset = queryset.filter(id__in=lots_visible(Lot.objects.all(), user).values("pk"))
    if filters.sku:
        if not source.item_lookups:
            return None
        item_ids = Item.objects.by_sku(filters.sku).values("pk")
        condition = _any_of(source.item_lookups, "__in", item_ids)
        if source.model is Item:  # also the records of a deleted item that had this SKU
            condition |= Q(sku__iexact=normalize_sku(filters.sku))
        queryset = queryset.filter(condition)
    if filters.user is not None:
        queryset = queryset.filter(history_user=filters.user)
    return queryset.select_related("history_user", *source.related).order_by("-history_date", "-history_id")


def _newest_first(queryset: QuerySet, date_field: str | None, pk_field: str, limit: int | None) -> Iterator[Any]:
    """The rows of ``queryset`` (ordered by ``-date_field, -pk_field``, or by ``-pk_field`` alone
    when ``date_field`` is None): the first ``limit``, or all of them in keyset chunks of
    ``CHUNK`` rows (each chunk one indexed query)."""
    if limit is not None:
        yield from queryset[:limit]
        return
    after: Q | None = None
    while True:
        chunk = list((queryset.filter(after) if after is not None else queryset)[:CHUNK])
        yield from chunk
        if len(chunk) < CHUNK:
            return
        last_pk = getattr(chunk[-1], pk_field)
        after = Q(**{f"{pk_field}__lt": last_pk})
        if date_field is not None:
            last_date = getattr(chunk[-1], date_field)
            after = Q(**{f"{date_field}__lt": last_date}) | Q(**{date_field: last_date, f"{pk_field}__lt": last_pk})


def _ledger_rows(movements: Iterator[Movement]) -> Iterator[_Row]:
    """Movements newest first by id, each merged at the earliest ``posted_at`` seen so far, so
    the stream's times never rise (``heapq.merge`` needs that; the module's docstring says why
    id order and ``posted_at`` may differ by a moment)."""
    ceiling: datetime | None = None
    for movement in movements:
        ceiling = movement.posted_at if ceiling is None else min(ceiling, movement.posted_at)
        yield _Row(ceiling, 0, movement.pk, None, movement)


def _history_rows(records: Iterator[Any], source: HistorySource, rank: int) -> Iterator[_Row]:
    for record in records:
        yield _Row(record.history_date, rank, record.history_id, source, record)


def _merged_rows(user: Actor | None, filters: AuditFilters, limit: int | None) -> Iterator[_Row]:
    streams: list[Iterator[_Row]] = []
    if filters.kind in ("", LEDGER):
        streams.append(_ledger_rows(_newest_first(_movements(user, filters), None, "id", limit)))
    if filters.kind in ("", MASTER_DATA):
        for rank, source in enumerate(history_sources(), start=1):
            queryset = _history(source, user, filters)
            if queryset is None:
                continue
            streams.append(_history_rows(_newest_first(queryset, "history_date", "history_id", limit), source, rank))
    access = _access_changes(user, filters) if filters.kind in ("", ACCESS) else None
    if access is not None:
        rank = len(history_sources()) + 1
        streams.append(_Row(c.at, rank, c.pk, ACCESS, c) for c in _newest_first(access, "at", "id", limit))
    return heapq.merge(*streams, key=lambda row: (row.when, row.rank, row.pk), reverse=True)


# --- Describing entries ----------------------------------------------------------------------------


def _number(value: Decimal) -> str:
    value = value.normalize()
    return f"{value:f}"


def _who(user: Actor | None) -> str:
    return user.get_username() if user is not None else SYSTEM


def _describe_movement(movement: Movement) -> AuditEntry:
    source, destination = movement.source, movement.destination
    lot = f" (lot {movement.lot.code})" if movement.lot_id else ""
    where = f"into {destination}" if source.kind == "supplier" else f"from {source} to {destination}"
    quantity = format_quantity(movement.quantity, movement.item.base_unit, with_unit=False)  # the unit's places
    what = f"Posted {movement.get_kind_display().lower()} of {quantity} {movement.item.sku}{lot} {where}"
    if movement.is_value_only:  # quantity 0: the value changed (docs/ledger.md, "Value-only entries")
        change = f"{movement.total_cost.normalize():+f}"
        what = f"Posted {movement.get_kind_display().lower()} of value {change} on {movement.item.sku}{lot} {where}"
    if movement.origin_id:
        what += f", about movement #{movement.origin_id}"
    if movement.reverses_id:
        what += f", reversing movement #{movement.reverses_id}"
    reference = " ".join(p for p in (movement.reference_type, movement.reference_id, movement.reference_line) if p)
    if reference:
        what += f" ({reference})"
    if movement.reason_code:
        what += f"; reason: {movement.reason_code}"
    warehouses = list(dict.fromkeys(loc.warehouse.code for loc in (source, destination) if loc.warehouse_id))
    return AuditEntry(
        when=movement.posted_at,
        kind=LEDGER,
        who=_who(movement.actor),
        action="posted",
        object_type="movement",
        object_label=f"Movement #{movement.pk}",
        what=what,
        warehouse=" → ".join(warehouses),
    )


def _describe_access_change(change: WarehouseAccessChange) -> AuditEntry:
    right = warehouse_rights().get(change.permission, change.permission)
    action = change.get_kind_display()
    preposition = "to" if change.kind == "grant" else "from"
    return AuditEntry(
        when=change.at,
        kind=ACCESS,
        who=change.actor_name,
        action=action,
        object_type="warehouse access",
        object_label=change.grantee_name,
        what=f"{action.capitalize()} '{right}' ({change.permission}) in {change.warehouse.code} "
        f"{preposition} {change.grantee_name}",
        warehouse=change.warehouse.code,
    )


def _object_label(source: HistorySource, record: Any) -> str:
    """``str()`` of the object as it was, using the related rows already joined to the record."""
    try:
        instance = record.instance
        instance._state.fields_cache.update(
            {name: value for name, value in record._state.fields_cache.items() if name != "history_user"}
        )
        return str(instance)
    except (ObjectDoesNotExist, AttributeError):  # a related row that no longer exists
        return f"{source.object_type} #{getattr(record, source.pk_name)}"


def _value(model_field: models.Field, value: object) -> str:
    if isinstance(value, DeletedObject):  # a foreign key whose row is gone, or that was empty
        if value.pk is None:
            return "(empty)"
        return f"{value.model._meta.verbose_name} #{value.pk} (since deleted)"
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if model_field.choices and not model_field.is_relation:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, Decimal):
        return _number(value)
    return str(value)


def _changes(source: HistorySource, record: Any, previous: Any) -> list[FieldChange]:
    delta = record.diff_against(previous, foreign_keys_are_objs=True)
    changes = []
    for change in delta.changes:
        model_field = source.history_model._meta.get_field(change.field)
        changes.append(
            FieldChange(str(model_field.verbose_name), _value(model_field, change.old), _value(model_field, change.new))
        )
    return changes


def _previous_records(source: HistorySource, records: list[Any]) -> dict[int, Any]:
    """For each changed record, the record before it (what ``record.prev_record`` returns), in one
    query: the previous records are found by a subquery and matched in Python."""
    changed = [r for r in records if r.history_type == "~"]
    if not changed:
        return {}
    history = source.history_model.objects
    pk_name = source.pk_name
    previous_id = (
        history.filter(**{pk_name: OuterRef(pk_name)}, history_date__lt=OuterRef("history_date"))
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )
    wanted = history.filter(history_id__in=[r.history_id for r in changed]).annotate(prev=Subquery(previous_id))
    candidates: dict[object, list[Any]] = defaultdict(list)
    for candidate in history.filter(history_id__in=wanted.values("prev")).select_related(*source.related):
        candidates[getattr(candidate, pk_name)].append(candidate)
    found = {}
    for record in changed:
        earlier = [
            c
            for c in candidates[getattr(record, pk_name)]
            if (c.history_date, c.history_id) < (record.history_date, record.history_id)
        ]
        if earlier:
            found[record.history_id] = max(earlier, key=lambda c: (c.history_date, c.history_id))
    return found


def describe(rows: list[_Row]) -> list[AuditEntry]:
    """Turn merged rows into entries: labels, the warehouses of history records (one query) and
    the field differences of changes (one query per model)."""
    by_source: dict[HistorySource, list[Any]] = defaultdict(list)
    warehouse_ids: set[int] = set()
    for row in rows:
        if isinstance(row.source, HistorySource):
            by_source[row.source].append(row.record)
            for i in range(len(row.source.warehouse_lookups)):
                value = getattr(row.record, _WAREHOUSE_ALIAS.format(i))
                if value is not None:
                    warehouse_ids.add(value)
    previous = {source: _previous_records(source, records) for source, records in by_source.items()}
    codes = dict(Warehouse.objects.filter(pk__in=warehouse_ids).values_list("pk", "code")) if warehouse_ids else {}

    entries = []
    for row in rows:
        if row.source is None:
            entries.append(_describe_movement(row.record))
            continue
        if row.source == ACCESS:
            entries.append(_describe_access_change(row.record))
            continue
        source, record = row.source, row.record
        action = HISTORY_ACTIONS.get(record.history_type, record.history_type)
        label = _object_label(source, record)
        what = f"{action.capitalize()} {source.object_type} {label}"
        if record.history_change_reason:
            what += f" ({record.history_change_reason})"
        prev = previous[source].get(record.history_id)
        ids = [getattr(record, _WAREHOUSE_ALIAS.format(i)) for i in range(len(source.warehouse_lookups))]
        entries.append(
            AuditEntry(
                when=record.history_date,
                kind=MASTER_DATA,
                who=_who(record.history_user),
                action=action,
                object_type=source.object_type,
                object_label=label,
                what=what,
                warehouse=" → ".join(dict.fromkeys(codes.get(i, f"#{i}") for i in ids if i is not None)),
                changes=_changes(source, record, prev) if prev is not None else [],
            )
        )
    return entries


# --- Public ----------------------------------------------------------------------------------------


def audit_trail_page(
    *, user: Actor | None, filters: AuditFilters, page: int = 1, per_page: int = 100
) -> tuple[list[AuditEntry], bool]:
    """Entries of page ``page`` (1-based), newest first, and whether an older page exists.
    Each source is read up to the end of the page (plus one row to know about the next)."""
    start = (page - 1) * per_page
    rows = list(islice(_merged_rows(user, filters, limit=start + per_page + 1), start, start + per_page + 1))
    return describe(rows[:per_page]), len(rows) > per_page


def audit_trail_entries(*, user: Actor | None, filters: AuditFilters) -> Iterator[AuditEntry]:
    """Every entry, newest first, read and described ``CHUNK`` rows at a time (for exports)."""
    merged = _merged_rows(user, filters, limit=None)
    while chunk := list(islice(merged, CHUNK)):
        yield from describe(chunk)

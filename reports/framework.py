"""The report framework: one report is one small module of ``reports/catalogue/`` (docs/reports.md).

A report is a subclass of ``Report`` registered with ``@register``: its ``name`` (the URL slug
of ``/admin/report/<name>/`` and ``GET /api/v1/reports/<name>/``), ``columns``, which filters
it uses (``period`` for ``date_from``/``date_to``, ``as_of`` for balances, ``params`` for its own
integers such as ``days``) and ``rows(query)``, a set-based read (a few grouped queries, never
one per item) returning plain dicts keyed by the column keys. ``totals(rows, query)`` sums the
columns named in ``total_keys`` unless the report says otherwise.

Invariants:
- every door (admin page, API, CSV, XLSX, subscriptions) calls ``run_report``, so they show the
  same rows: ``parse_query`` checks the permission (``reports.view_report``) and narrows
  ``query.warehouses`` to those where the user may view stock; a report reads only those;
- a bad filter raises ``django.core.exceptions.ValidationError`` naming the parameter
  (``{"date_from": [...]}``): the API answers 400 ``validation_error`` with ``fields``, the admin
  page shows it on the form; nothing else happens;
- periods are whole local days: ``start`` is ``date_from`` at 00:00 and ``end`` the day after
  ``date_to`` at 00:00 (exclusive), in ``settings.TIME_ZONE``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from catalog.models import Category, Item, Warehouse
from catalog.permissions import WarehouseAction, warehouses_for
from common.actors import Actor

REPORT_PERMISSION = "reports.view_report"
ZERO = Decimal(0)


@dataclass(frozen=True)
class Column:
    """A column: ``key`` in each row, ``label`` for people, ``kind`` for formatting
    (``text``, ``quantity``, ``money``, ``number``, ``date``, ``datetime``)."""

    key: str
    label: str
    kind: str = "text"


@dataclass(frozen=True)
class Param:
    """A report's own integer parameter (``?days=30``) with its default and allowed range."""

    default: int
    minimum: int = 0
    maximum: int = 3650
    label: str = ""


@dataclass
class ReportQuery:
    """The parsed filters. ``warehouses`` is already narrowed to the user's (and to
    ``?warehouse=`` when given); ``item`` and ``category`` are None when not filtered."""

    user: Actor | None
    warehouses: list[Warehouse]
    category: Category | None = None
    item: Item | None = None
    date_from: date | None = None
    date_to: date | None = None
    as_of: datetime | None = None
    params: dict[str, int] = field(default_factory=dict)

    @property
    def warehouse_ids(self) -> list[int]:
        return [w.pk for w in self.warehouses]

    @property
    def start(self) -> datetime:
        return day_start(self.date_from)

    @property
    def end(self) -> datetime:
        """The first moment after the period (exclusive)."""
        return day_start(self.date_to + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def items(self, queryset: QuerySet, prefix: str = "item") -> QuerySet:
        """``queryset`` narrowed to the filtered item and category (with its sub-categories);
        ``prefix`` names the item field (a foreign key, or a plain ``<prefix>_id`` column)."""
        if self.item is not None:
            queryset = queryset.filter(**{f"{prefix}_id": self.item.pk})
        if self.category is not None:
            in_category = Item.objects.filter(category__path__startswith=self.category.path).values("pk")
            queryset = queryset.filter(**{f"{prefix}_id__in": in_category})
        return queryset

    def item_ids(self, model: type[Model]) -> QuerySet | None:
        """The item ids of ``model``'s rows that pass the item and category filter, as a
        subquery (``model`` has an ``item`` field); None when neither filter is set (every item)."""
        if self.item is None and self.category is None:
            return None
        return self.items(model._default_manager.all()).values("item_id")


@dataclass
class ReportResult:
    report: Report
    query: ReportQuery
    rows: list[dict[str, Any]]
    totals: dict[str, Any]


class Report:
    """One report. Subclasses set the class attributes and implement ``rows``."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    columns: ClassVar[tuple[Column, ...]]
    period: ClassVar[bool] = False  # uses date_from / date_to (default: the current month)
    as_of: ClassVar[bool] = False  # uses as_of (default: now)
    params: ClassVar[dict[str, Param]] = {}
    total_keys: ClassVar[tuple[str, ...]] = ()

    def rows(self, query: ReportQuery) -> list[dict[str, Any]]:
        raise NotImplementedError

    def totals(self, rows: list[dict[str, Any]], query: ReportQuery) -> dict[str, Any]:
        totals: dict[str, Any] = {"rows": len(rows)}
        for key in self.total_keys:
            totals[key] = sum((row[key] for row in rows if row.get(key) is not None), ZERO)
        return totals


REPORTS: dict[str, Report] = {}


def register(cls: type[Report]) -> type[Report]:
    """Class decorator: make the report available at every door under ``cls.name``."""
    if cls.name in REPORTS:
        raise ValueError(f"Two reports are named {cls.name!r}.")
    REPORTS[cls.name] = cls()
    return cls


def get_report(name: str) -> Report | None:
    from . import catalogue  # noqa: F401 - registers the reports on first use

    return REPORTS.get(name)


def all_reports() -> list[Report]:
    from . import catalogue  # noqa: F401

    return sorted(REPORTS.values(), key=lambda r: r.title)


# --- Parsing the filters ------------------------------------------------------------------------


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def month_bounds(today: date) -> tuple[date, date]:
    return today.replace(day=1), today.replace(day=calendar.monthrange(today.year, today.month)[1])


def _date(params: Mapping[str, str], key: str) -> date | None:
    text = (params.get(key) or "").strip()
    if not text:
        return None
    try:
        value = parse_date(text)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({key: [f"{text!r} is not a date: write it as YYYY-MM-DD."]})
    return value


def _as_of(params: Mapping[str, str]) -> datetime | None:
    text = (params.get("as_of") or "").strip()
    if not text:
        return None
    try:  # a bare date first: parse_datetime would read it as that day's midnight
        day = parse_date(text) if len(text) == 10 else None
        moment = None if day else parse_datetime(text)
    except ValueError:
        moment = day = None
    if moment is None and day is None:
        raise ValidationError({"as_of": [f"{text!r} is not a date or time: write YYYY-MM-DD or YYYY-MM-DDTHH:MM."]})
    if moment is None:  # a whole day: as of its end
        return day_start(day + timedelta(days=1)) - timedelta(microseconds=1)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _warehouses(user: Actor | None, text: str) -> list[Warehouse]:
    permitted = warehouses_for(user, WarehouseAction.VIEW).order_by("code")
    text = text.strip()
    if not text:
        return list(permitted)
    found = [w for w in permitted if w.code.lower() == text.lower() or str(w.pk) == text]
    if not found:
        raise ValidationError({"warehouse": [f"No warehouse {text!r} whose stock you may view."]})
    return found


def _category(text: str) -> Category | None:
    text = text.strip()
    if not text:
        return None
    found = Category.objects.filter(pk=int(text)).first() if text.isdigit() else None
    found = found or Category.objects.filter(path__iexact=text).first()
    if found is None:
        raise ValidationError({"category": [f"No category {text!r} (give its id or its full path)."]})
    return found


def _item(text: str) -> Item | None:
    text = text.strip()
    if not text:
        return None
    found = Item.objects.filter(sku=text).first() or Item.objects.filter(sku__iexact=text).first()
    if found is None:
        raise ValidationError({"sku": [f"No item with SKU {text!r}."]})
    return found


def _int_param(params: Mapping[str, str], key: str, spec: Param) -> int:
    text = (params.get(key) or "").strip()
    if not text:
        return spec.default
    if not text.isdigit() or not spec.minimum <= int(text) <= spec.maximum:
        raise ValidationError({key: [f"{text!r} is not a whole number from {spec.minimum} to {spec.maximum}."]})
    return int(text)


def require_report_access(user: Actor | None) -> None:
    if user is not None and not (user.is_active and user.has_perm(REPORT_PERMISSION)):
        raise PermissionDenied(f"{user} may not view reports.")


def parse_query(report: Report, user: Actor | None, params: Mapping[str, str]) -> ReportQuery:
    """The filters of ``params`` (query parameters or form data) checked and resolved; raises
    ``PermissionDenied`` or ``ValidationError`` (every bad parameter named) and reads nothing else."""
    require_report_access(user)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    parsers = {
        "warehouses": lambda: _warehouses(user, params.get("warehouse") or ""),
        "category": lambda: _category(params.get("category") or ""),
        "item": lambda: _item(params.get("sku") or ""),
    }
    if report.period:
        parsers["date_from"] = lambda: _date(params, "date_from")
        parsers["date_to"] = lambda: _date(params, "date_to")
    if report.as_of:
        parsers["as_of"] = lambda: _as_of(params)
    for key, spec in report.params.items():
        parsers[f"param:{key}"] = lambda key=key, spec=spec: _int_param(params, key, spec)
    for key, parse in parsers.items():
        try:
            values[key] = parse()
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
    if report.period and not errors:
        first, last = month_bounds(timezone.localdate())
        values["date_from"] = values["date_from"] or (values["date_to"] or first).replace(day=1)
        values["date_to"] = values["date_to"] or max(values["date_from"], min(last, timezone.localdate()))
        if values["date_from"] > values["date_to"]:
            errors["date_to"] = ["The end date is before the start date."]
        elif (values["date_to"] - values["date_from"]).days > 3660:
            errors["date_to"] = ["The period is longer than ten years: choose a shorter one."]
    if errors:
        raise ValidationError(errors)
    return ReportQuery(
        user=user,
        warehouses=values["warehouses"],
        category=values["category"],
        item=values["item"],
        date_from=values.get("date_from"),
        date_to=values.get("date_to"),
        as_of=values.get("as_of") or (timezone.now() if report.as_of else None),
        params={key: values[f"param:{key}"] for key in report.params},
    )


def run_report(report: Report, user: Actor | None, params: Mapping[str, str]) -> ReportResult:
    """Parse the filters, read the rows and their totals: the one path of every door.

    On PostgreSQL the reads run in one transaction with JIT compilation off: a report's
    grouped queries are estimated dear enough (a reversal's subquery counts for every row) to
    be JIT-compiled, which took 0.4 s of a 0.46 s journal at 1M movements for 20 ms of work
    (docs/reports.md, "How the reports read"). And each statement is planned for its own
    parameters (``plan_cache_mode``): psycopg prepares a statement after its fifth run, and a
    generic plan of ``nothing_after`` scanned the whole movement table (108 ms at 1M)."""
    query = parse_query(report, user, params)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('jit', 'off', true), set_config('plan_cache_mode', 'force_custom_plan', true)"
                )
        rows = report.rows(query) if query.warehouses else []
        totals = report.totals(rows, query)
    return ReportResult(report=report, query=query, rows=rows, totals=totals)

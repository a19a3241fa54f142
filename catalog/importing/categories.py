"""Categories: ``path`` (``Home > Kitchen > Knives``; missing parents are created) and
``valuation_method`` (the default for new items in it; empty changes nothing). Every write
goes through ``catalog.services.category_save``, which keeps the stored paths right."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from catalog.models import PATH_SEPARATOR, Category
from catalog.services import category_save

from . import cells
from .cells import CellError
from .item_rows import _VALUATION, category_path_normalize
from .runner import ImportJob, RowError

CATEGORY_COLUMNS = ("path", "valuation_method")


@dataclass(slots=True)
class CategorySpec:
    row: int
    path: str
    valuation_method: str | None


def parse_category_row(raw: Mapping[str, str], *, row: int) -> CategorySpec | list[RowError]:
    """The one per-row parser of categories (admin and command)."""
    errors: list[RowError] = []
    path = ""
    value = raw.get("path") or ""
    if not value:
        errors.append(RowError(row, "path", "", "The category path is empty: every row needs one."))
    else:
        try:
            path = category_path_normalize(value)
        except CellError as exc:
            errors.append(RowError(row, "path", value, str(exc)))
    method = None
    if value := raw.get("valuation_method"):
        try:
            method = cells.choice(value, _VALUATION)
        except CellError as exc:
            errors.append(RowError(row, "valuation_method", value, str(exc)))
    return errors or CategorySpec(row=row, path=path, valuation_method=method)


class CategoryWriter:
    """Creates and updates categories by path through ``category_save`` (history: ``actor``).
    ``save`` returns "new", "updated" or "unchanged"; with ``write=False`` it only says what
    it would do."""

    def __init__(self, *, actor: Any = None) -> None:
        self.actor = actor
        self.by_path = {c.path.casefold(): c for c in Category.objects.all()}
        self.planned: set[str] = set()

    def _save(self, category: Category) -> Category:
        if self.actor is not None:
            category._history_user = self.actor
        category = category_save(category=category)
        self.by_path[category.path.casefold()] = category
        return category

    def save(self, spec: CategorySpec, *, write: bool) -> str:
        existing = self.by_path.get(spec.path.casefold())
        if existing is not None:
            if spec.valuation_method is None or existing.valuation_method == spec.valuation_method:
                return "unchanged"
            if write:
                existing.valuation_method = spec.valuation_method
                self._save(existing)
            return "updated"
        if spec.path.casefold() in self.planned:
            return "unchanged"
        if not write:
            names = spec.path.split(PATH_SEPARATOR)
            self.planned.update(PATH_SEPARATOR.join(names[:depth]).casefold() for depth in range(1, len(names) + 1))
            return "new"
        parent: Category | None = None
        names = spec.path.split(PATH_SEPARATOR)
        for depth, name in enumerate(names, start=1):
            path = PATH_SEPARATOR.join(names[:depth])
            node = self.by_path.get(path.casefold())
            if node is None:
                leaf = depth == len(names)
                node = self._save(
                    Category(name=name, parent=parent, valuation_method=(spec.valuation_method or "") if leaf else "")
                )
            parent = node
        return "new"


class CategoriesJob(ImportJob):
    label = "categories"
    columns = CATEGORY_COLUMNS
    required = ("path",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writer = CategoryWriter(actor=self.actor)
        self.seen: dict[str, int] = {}

    def parse(self, raw: dict[str, str], row: int) -> CategorySpec | list[RowError]:
        spec = parse_category_row(raw, row=row)
        if isinstance(spec, list):
            return spec
        first = self.seen.setdefault(spec.path.casefold(), row)
        if first != row:
            return [RowError(row, "path", spec.path, f"Category {spec.path!r} is on rows {first} and {row}.")]
        return spec

    def flush(self, specs: list[CategorySpec], *, write: bool) -> list[RowError]:
        errors = []
        for spec in specs:
            try:
                outcome = self.writer.save(spec, write=write and not errors)
            except ValidationError as exc:
                errors.append(RowError(spec.row, "path", spec.path, " ".join(exc.messages)))
                continue
            setattr(self.counts, outcome, getattr(self.counts, outcome) + 1)
        return errors


def category_export_row(category: Category) -> list[str]:
    return [category.path, category.valuation_method]


def iter_category_export_rows(queryset: Any = None) -> Iterator[list[str]]:
    queryset = Category.objects.all() if queryset is None else queryset
    for category in queryset.order_by("path").iterator(chunk_size=2000):
        yield category_export_row(category)

"""Fixtures of the import/export tests (tests/imports/*).

- ``units``: the seeded units by code (re-created if a transactional test flushed them);
- ``write``: ``write(name, text_or_bytes, encoding="utf-8")`` writes a file in ``tmp_path``;
- ``run``: ``run(command, *args)`` calls a management command and returns a ``Ran`` with
  ``ok`` (False when it raised CommandError, i.e. exit code 1), ``out``, ``err`` and ``error``;
- ``admin_user``: a superuser (username ``boss``).
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import UnitOfMeasure
from tests.stock.factories import UserFactory, ensure_virtual_locations

UNITS = importlib.import_module("catalog.migrations.0002_virtual_locations_units_roles").UNITS
PLACES = importlib.import_module("catalog.migrations.0007_unit_decimal_places").BY_CODE


@pytest.fixture
def units(db) -> dict[str, UnitOfMeasure]:
    for code, name, dimension, ratio in UNITS:
        UnitOfMeasure.objects.get_or_create(
            code=code,
            defaults={"name": name, "dimension": dimension, "ratio": ratio, "decimal_places": PLACES[code]},
        )
    ensure_virtual_locations()
    return {unit.code: unit for unit in UnitOfMeasure.objects.all()}


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write


@dataclass
class Ran:
    ok: bool
    out: str
    err: str
    error: str = ""

    @property
    def text(self) -> str:
        return "\n".join([self.out, self.err, self.error])


@pytest.fixture
def run(units) -> Callable[..., Ran]:
    def run(command: str, *args: object) -> Ran:
        out, err = io.StringIO(), io.StringIO()
        try:
            extra = ["--no-progress"] if command.startswith("import_") else []
            call_command(command, *[str(a) for a in args], *extra, stdout=out, stderr=err)
        except CommandError as exc:
            return Ran(False, out.getvalue(), err.getvalue(), str(exc))
        return Ran(True, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def admin_user(db):
    return UserFactory(username="boss", is_superuser=True, is_staff=True)

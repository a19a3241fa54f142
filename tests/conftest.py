"""Fixtures every app's tests share. App-specific fixtures live in ``tests/<app>/conftest.py``."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import override_settings


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher() -> Iterator[None]:
    """Production PBKDF2 costs about half a second per hash; tests need no strength."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """The API's throttle counters live in the default cache (a process-wide local memory in
    tests): every test starts from zero, so a long run never trips a limit by accident."""
    from django.core.cache import cache

    cache.clear()
    yield


# --- No door around the ledger (DESIGN.md rule 10, STYLE.md habit 2) --------------------------

PROJECT = Path(__file__).resolve().parents[1]
LEDGER_TABLES = frozenset(
    {"stock_movement", "stock_stocklevel", "stock_itemvaluation", "stock_costlayer", "stock_costlayerconsumption"}
)
# Who may write the ledger's tables: its services, migrations, and tests (which inject drift on
# purpose to see reconciliation report it).
LEDGER_WRITERS = (f"{PROJECT}/stock/services/", f"{PROJECT}/tests/")
_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
# The posting functions (migrations stock 0006 and 0014) write the tables from inside the database.
_POSTING_FUNCTION = re.compile(r"stock_post_line(_guarded)?\(")


@dataclass
class LedgerWriteGuard:
    """Watches every statement on every connection (also the threads of concurrency tests).
    For a write of a ledger table it finds the innermost frame of the project's own code (not
    Django, not site-packages, not this file) and records a violation unless that frame is in
    ``stock/services/``, a migration or ``tests/``. Only writes to those tables pay for the
    frame walk."""

    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        table = self.ledger_table(sql)
        if table is not None:
            writer = self.writer()
            if writer is not None and not self.allowed(writer[0]):
                with self.lock:
                    self.violations.append(f"{writer[0]}:{writer[1]} writes {table}: {sql[:120]}")
        return execute(sql, params, many, context)

    @staticmethod
    def ledger_table(sql: str) -> str | None:
        match = _WRITE.match(sql)
        if match is not None and match.group(1).lower() in LEDGER_TABLES:
            return match.group(1).lower()
        if _POSTING_FUNCTION.search(sql):
            return "stock_post_line"
        return None

    @staticmethod
    def writer() -> tuple[str, int] | None:
        frame = sys._getframe(2)
        project, here = str(PROJECT), __file__
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(project) and name != here and "/site-packages/" not in name:
                return name, frame.f_lineno
            frame = frame.f_back
        return None  # Django or pytest on their own (flushing the test database)

    @staticmethod
    def allowed(filename: str) -> bool:
        return filename.startswith(LEDGER_WRITERS) or "/migrations/" in filename

    def install(self, connection: Any, **_: Any) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)


_GUARD = LedgerWriteGuard()


@pytest.fixture(autouse=True, scope="session")
def _ledger_write_guard_installed() -> Iterator[LedgerWriteGuard]:
    for connection in connections.all():
        _GUARD.install(connection)
    connection_created.connect(_GUARD.install, weak=False)  # new connections (other threads)
    yield _GUARD
    connection_created.disconnect(_GUARD.install)


@pytest.fixture(autouse=True)
def ledger_write_guard(_ledger_write_guard_installed: LedgerWriteGuard) -> Iterator[LedgerWriteGuard]:
    """Fails the test if project code outside ``stock/services/`` (or migrations, or tests)
    wrote a ledger table during it. A test of the guard itself reads and clears
    ``violations``."""
    guard = _ledger_write_guard_installed
    guard.violations.clear()
    yield guard
    if guard.violations:
        found = "\n".join(guard.violations)
        guard.violations.clear()
        pytest.fail(f"The ledger's tables were written outside stock/services/:\n{found}", pytrace=False)

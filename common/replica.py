"""Reports and exports read from a streaming replica when one is configured (docs/scaling.md).

With ``REPLICA_DATABASE_URL`` set, settings add the database alias ``replica`` and install
``ReplicaRouter``. Code that only reads (the audit trail and its CSV, the admin's and the
commands' exports) runs its queries inside ``replica_reads()``; everything else, and every write,
goes to ``default`` (the primary). Without a replica nothing changes: every read goes to
``default``.

Invariants:

- Writes never go to the replica (it is read-only; PostgreSQL would refuse them anyway).
- Inside a transaction on the primary, reads stay on the primary: a read that must see the
  transaction's own writes, or that a ``SELECT ... FOR UPDATE`` relies on, never goes elsewhere.
  Postings (``stock.services``) run in transactions, so no posting ever reads the replica.
- What is read from the replica may lag the primary by its replay delay (milliseconds on a
  healthy local standby): a report may miss a posting made a moment before. Nothing that decides
  a write reads there.
- Migrations run only on ``default``; the replica receives them by replication.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connections

REPLICA = "replica"

_reading_from_replica: ContextVar[bool] = ContextVar("reading_from_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside the block go to the replica (when one is configured, and outside a
    transaction on the primary); writes still go to the primary."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


def on_replica(rows: Iterable) -> Iterator:
    """``rows`` produced with replica reads, one at a time: for a streamed response, whose
    generator runs after the view has returned. Only the producing of each row is inside the
    block; between rows the caller's own reads are untouched."""
    iterator = iter(rows)
    while True:
        with replica_reads():
            try:
                row = next(iterator)
            except StopIteration:
                return
        yield row


class ReplicaRouter:
    """``db_for_read``: the replica inside ``replica_reads()`` when configured and no
    transaction is open on the primary; otherwise no opinion (Django then uses ``default``)."""

    def db_for_read(self, model: type, **hints: object) -> str | None:
        if not _reading_from_replica.get() or not replica_configured():
            return None
        if connections["default"].in_atomic_block:
            return None
        return REPLICA

    def db_for_write(self, model: type, **hints: object) -> str | None:
        return "default"

    def allow_relation(self, obj1: object, obj2: object, **hints: object) -> bool | None:
        return True  # the same rows on both: a replica is a copy of the primary

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: object) -> bool | None:
        return db != REPLICA

"""Writes of the shared store (``common.models``)."""

from __future__ import annotations

from datetime import datetime

from common.models import IdempotentRequest


def idempotent_requests_purge(*, before: datetime, chunk: int = 10_000) -> int:
    """Delete the stored answers of keyed requests made before ``before``, ``chunk`` rows per
    statement (short locks on a large backlog); returns how many. A retry of a purged key runs
    again, and the services' own idempotency (the ledger rows carry the key) still refuses to
    post it twice."""
    deleted = 0
    while True:
        ids = list(IdempotentRequest.objects.filter(created_at__lt=before).values_list("pk", flat=True)[:chunk])
        if not ids:
            return deleted
        deleted += IdempotentRequest.objects.filter(pk__in=ids).delete()[0]

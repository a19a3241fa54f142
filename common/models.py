"""The idempotency store of the API (``common.api.idempotency``).

The model moved here from ``stock`` (issue 13) so that the plumbing reaches it without importing
an app; its table keeps the name it had (``stock_idempotentrequest``), so no row moved.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotentRequest(models.Model):
    """The first answer to an API write sent with an ``Idempotency-Key`` header
    (``common.api.idempotency.idempotent``), replayed to every retry with the same key.

    ``key`` is ``"<user id>:<client key>"``, so two clients' keys never collide. The row is
    inserted as the first statement of the request's transaction and filled with the response
    before it commits: a concurrent retry blocks on the unique key until the first commits, then
    reads the stored answer. A refused request rolls back and leaves no row (nothing was written,
    so a retry runs again). ``fingerprint`` (SHA-256 of method, path and body) tells a retry from
    a different request reusing the key. ``response`` keeps the JSON text (not a JSONField, whose
    PostgreSQL storage reorders keys), so a replay is the same bytes."""

    key = models.CharField(max_length=300, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="The answer's JSON, byte for byte as first sent.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "stock_idempotentrequest"  # the table it had in stock: moved in the state only
        verbose_name = "API idempotency key"

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] -> {self.status_code}"

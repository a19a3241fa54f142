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
    inserted with the response as the last statement of the request's transaction: a racing
    retry that reaches its own insert blocks on the unique key until the first commits, then
    rolls its own writes back and replays the stored answer. A refused request rolls back and
    leaves no row (nothing was written, so a retry runs again). ``fingerprint`` (SHA-256 of
    method, path and body) tells a retry from a different request reusing the key. ``response``
    keeps the JSON text (not a JSONField, whose PostgreSQL storage reorders keys), so a replay is
    the same bytes."""

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


class JobRun(models.Model):
    """One run of a background job (``common.jobs.job_run``): when it started and finished, how
    it ended and what it did, shown in the admin. ``/readyz`` reads the age of the last
    successful run of the reconciliation and of the backup from here. Rows are written by
    ``common.jobs`` only; the admin shows them read-only."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        OK = "ok", "succeeded"
        FAILED = "failed", "failed"

    job = models.CharField(max_length=100, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    summary = models.TextField(blank=True, help_text="What the run did, in a sentence.")
    sent = models.JSONField(
        default=list, blank=True, help_text="What it sent: one entry per mail (recipient, subject, alert keys)."
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["job", "status", "-finished_at"], name="jobrun_last_success")]

    def __str__(self) -> str:
        return f"{self.job} at {self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"


class AlertCondition(models.Model):
    """One condition an alert is about (``common.alerts``): a kind ("reorder"), a key naming the
    thing ("AMS:CAC-001"), and the person told. While the condition holds, the row stays open
    (``cleared_at`` empty) and the person is not told again; when a run no longer finds it, the
    row is closed; when it comes back, a new row opens and the person is told once more. At most
    one open row per (kind, key, recipient): a database constraint keeps it so, so two runs at
    once cannot both open it and both mail it."""

    kind = models.CharField(max_length=50)
    key = models.CharField(max_length=300)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(help_text="The alert's line, as last found.")
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When the digest naming it was sent.")
    cleared_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key", "recipient"],
                condition=models.Q(cleared_at__isnull=True),
                name="alertcondition_one_open_per_kind_key_recipient",
            )
        ]

    def __str__(self) -> str:
        state = "open" if self.cleared_at is None else "cleared"
        return f"{self.kind} {self.key} for {self.recipient_id} ({state})"


class AlertOptOut(models.Model):
    """A person who does not want one kind of alert. Nothing of that kind is mailed to them, and
    no condition is recorded for them while the opt-out stands."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_opt_outs")
    kind = models.CharField(max_length=50)

    class Meta:
        verbose_name = "alert opt-out"
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="alertoptout_one_per_user_kind")]

    def __str__(self) -> str:
        return f"{self.user} does not receive {self.kind}"

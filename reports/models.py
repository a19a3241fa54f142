"""The reports' rows: the right to read reports, and scheduled report subscriptions.

``Report`` has no table (``managed = False``): it exists so that ``reports.view_report`` is a
model permission the roles grant like any other (``common.roles``: managers, purchasers,
auditors and administrators; not clerks). Nothing reads or writes rows of it.

A ``ReportSubscription`` is one user's standing order for one report with its filters, mailed
as XLSX daily or weekly by beat (``reports.tasks.mail_report_subscriptions``); the report runs
as that user, so it holds only what the user may see when it is sent.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class Report(models.Model):
    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "report"

    def __str__(self) -> str:
        return "report"


class Frequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly (Mondays)"


class ReportSubscription(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions")
    report = models.CharField(max_length=60, help_text="The report's name, e.g. stock-on-hand.")
    filters = models.JSONField(
        default=dict, blank=True, help_text='Query parameters of the report, e.g. {"warehouse": "MAIN"}.'
    )
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    active = models.BooleanField(default=True)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "report"]

    def __str__(self) -> str:
        return f"{self.report} ({self.get_frequency_display().lower()}) for {self.user}"

    def clean(self) -> None:
        from .framework import get_report

        if get_report(self.report) is None:
            raise ValidationError({"report": f"No report named {self.report!r}."})
        if not isinstance(self.filters, dict) or not all(isinstance(v, str) for v in self.filters.values()):
            raise ValidationError({"filters": 'Give the filters as {"name": "value"} with text values.'})

"""The admin of the job schedules (django-celery-beat's Periodic tasks), with one change: "Run
selected tasks" while the job queue (the Celery broker) is unreachable says so and starts
nothing, instead of answering 500 (issue 12, finding 3).

``inventory_site.urls`` imports this module before it builds the admin's URLs, so the
registration below replaces django-celery-beat's own (the site wires the apps together; no app
imports it)."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

UNREACHABLE = (
    "The job queue is unreachable, so nothing was started. Try again in a few minutes; if it "
    "persists, ask the administrator to check the broker (CELERY_BROKER_URL) and its workers."
)


class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's admin; "Run selected tasks" first checks that the broker answers."""

    @admin.action(description="Run selected tasks")
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> HttpResponse | None:
        """Send each selected task to the queue now (django-celery-beat's action), after one
        connection attempt: when the broker does not answer, an error message and nothing sent.
        A broker that fails half-way is said too, as it may have taken some of the tasks."""
        try:
            with self.celery_app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1)
        except (BrokerError, OSError):
            logger.warning("Run selected tasks: the broker is unreachable", exc_info=True)
            self.message_user(request, UNREACHABLE, level=messages.ERROR)
            return None
        try:
            return super().run_tasks(request, queryset)
        except (BrokerError, OSError):
            logger.warning("Run selected tasks: the broker failed while sending", exc_info=True)
            self.message_user(
                request,
                "The job queue stopped answering while the tasks were being sent: some may have started. "
                "Check the results before running them again.",
                level=messages.ERROR,
            )
            return None


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)

"""Alerts people trust: each condition mailed once, until it clears and comes back
(docs/operations.md, "Alerts").

An app registers a kind of alert (``register_alert_kind``: reorder, expiry, reconciliation, and
after the merge the counts' variances) with a function that finds the conditions that hold now,
per recipient. ``alerts_run`` then, for the kinds of one job run:

1. finds the conditions (or takes them from the caller, who already computed them);
2. compares them with the open ``AlertCondition`` rows of that kind: a condition already open and
   mailed is not mailed again; a new one opens a row; an open row no longer found is closed
   (``cleared_at``), so when the condition comes back it opens a new row and is mailed once more;
3. sends each recipient ONE digest of their new conditions (all kinds of the run together), with
   a text and an HTML part (the HTML escapes every name: an item called ``<script>`` is text),
   and marks those rows mailed only once their mail went out;
4. records the run (``common.jobs``) with what it sent: recipient, subject and alert keys.

People who opted out of a kind (``AlertOptOut``) get nothing of it and no row is kept for them.
Inactive users and users without an address are skipped. Running it twice sends nothing the
second time (idempotent); when a mail fails, the others still go, the failed ones stay unmailed,
and the run fails so that Celery retries it (with backoff): the retry sends only what is still
unmailed. Two runs at once cannot both open (and mail) one condition: the open rows are unique
per (kind, key, recipient) in the database.

This module imports no app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from common.jobs import RunReport, job_run
from common.models import AlertCondition, AlertOptOut

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One condition for one person: ``key`` names it stably from run to run (``"WH1:CAC-001"``),
    ``text`` is the line they read, ``urgent`` marks the ones a subject counts as urgent."""

    key: str
    text: str
    urgent: bool = False


Found = Mapping[object, Sequence[Alert]]  # user -> the conditions that hold for them now


@dataclass(frozen=True)
class AlertKind:
    kind: str  # stored in the rows and the opt-outs: never rename one
    title: str  # the digest's heading, and the opt-out's choice
    intro: str  # what to do about them, under the heading
    # The mail's subject, formatted with ``count`` (a person's new alerts), ``urgent`` (how many
    # of them are urgent) and ``settings``: "Reorder: {count} item(s) ({urgent} urgent)".
    subject: str
    collect: Callable[[], Found] | None = None  # None: the job hands its findings to alerts_run


_KINDS: dict[str, AlertKind] = {}


class AlertMailFailed(OSError):
    """Some digests could not be sent; they stay unmailed and a retry sends them (an OSError,
    so ``common.jobs.TASK_RETRY`` retries it like the mail server's own connection errors)."""


def register_alert_kind(kind: AlertKind) -> None:
    """Add a kind of alert (call it from an app's ``ready()``; registering one again replaces it)."""
    _KINDS[kind.kind] = kind


def alert_kinds() -> list[AlertKind]:
    return sorted(_KINDS.values(), key=lambda k: k.title)


def _track(kind: str, found: Found, now: object, opted_out: set[int]) -> dict[object, list[AlertCondition]]:
    """Update the open rows of ``kind`` to what was ``found``; returns per user the rows to mail."""
    open_rows = {(row.key, row.recipient_id): row for row in AlertCondition.objects.filter(kind=kind, cleared_at=None)}
    still, to_mail = set(), {}
    for user, alerts in found.items():
        if user.pk in opted_out or not user.is_active or not user.email:
            continue
        for alert in {alert.key: alert for alert in alerts}.values():  # one row per key
            row = open_rows.get((alert.key, user.pk))
            if row is None:
                try:
                    with transaction.atomic():
                        row = AlertCondition.objects.create(
                            kind=kind, key=alert.key, recipient=user, text=alert.text, opened_at=now, last_seen_at=now
                        )
                except IntegrityError:  # a run at the same time opened it: that run mails it
                    continue
            else:
                still.add(row.pk)
                AlertCondition.objects.filter(pk=row.pk).update(text=alert.text, last_seen_at=now)
            if row.notified_at is None:
                to_mail.setdefault(user, []).append((row, alert))
    gone = [row.pk for row in open_rows.values() if row.pk not in still]
    AlertCondition.objects.filter(pk__in=gone).update(cleared_at=now)
    return to_mail


def _digest(user: object, sections: list[tuple[AlertKind, list[Alert]]]) -> EmailMultiAlternatives:
    if len(sections) == 1:
        kind, alerts = sections[0]
        subject = kind.subject.format(count=len(alerts), urgent=sum(a.urgent for a in alerts), settings=settings)
    else:
        parts = ", ".join(f"{kind.title} {len(alerts)}" for kind, alerts in sections)
        subject = f"Inventory alerts: {sum(len(a) for _, a in sections)} new ({parts})"
    context = {"user": user, "sections": [{"kind": k, "alerts": a} for k, a in sections]}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("alerts/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    message.attach_alternative(render_to_string("alerts/digest.html", context), "text/html")
    return message


def _send(job: str, kinds: Sequence[str], found: Mapping[str, Found] | None, report: RunReport) -> int:
    now = timezone.now()
    per_user: dict[object, list[tuple[AlertKind, list[tuple[AlertCondition, Alert]]]]] = {}
    for name in kinds:
        kind = _KINDS[name]
        current = (found or {}).get(name)
        if current is None:
            if kind.collect is None:
                raise ValueError(f"The alert kind {name} finds nothing itself: pass its findings.")
            current = kind.collect()
        opted_out = set(AlertOptOut.objects.filter(kind=name).values_list("user_id", flat=True))
        for user, rows in _track(name, current, now, opted_out).items():
            per_user.setdefault(user, []).append((kind, rows))
    sent, failed = 0, 0
    for user, sections in sorted(per_user.items(), key=lambda pair: pair[0].pk):
        message = _digest(user, [(kind, [alert for _, alert in rows]) for kind, rows in sections])
        try:
            message.send()
        except Exception:
            logger.exception("Alert digest of %s to user %s failed", job, user.pk)
            failed += 1
            continue
        keys = [f"{kind.kind}:{row.key}" for kind, rows in sections for row, _ in rows]
        AlertCondition.objects.filter(pk__in=[row.pk for _, rows in sections for row, _ in rows]).update(
            notified_at=timezone.now()
        )
        report.sent.append({"to": user.email, "subject": message.subject, "alerts": keys})
        sent += 1
    report.summary = f"{sent} digest(s) sent" + (f", {failed} failed (retried)." if failed else ".")
    if failed:
        raise AlertMailFailed(f"{failed} alert digest(s) of {job} could not be sent.")
    return sent


def alerts_run(
    job: str, kinds: Sequence[str], *, found: Mapping[str, Found] | None = None, report: RunReport | None = None
) -> int:
    """Mail each recipient one digest of the new conditions of ``kinds`` (see the module's
    docstring); ``found`` gives the findings of kinds the caller computed, ``report`` the run
    record of a caller that records its own run. Returns the digests sent."""
    if report is not None:
        return _send(job, kinds, found, report)
    with job_run(job) as own:
        return _send(job, kinds, found, own)

"""Alerts people trust (common/alerts.py): each condition mailed once until it clears and comes
back, one digest per recipient per run, opt-out per kind, text and HTML, and the run's record.

Two test kinds, "widgets" and "bolts", whose conditions the test sets in ``now[kind]`` per user
before each run (the real kinds, reorder, expiry and reconciliation, are tested with their apps
and in test_ops_alerts_live.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client

from common import alerts
from common.alerts import Alert, AlertKind, AlertMailFailed, alerts_run
from common.models import AlertCondition, AlertOptOut, JobRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem_mail(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def now(monkeypatch) -> Iterator[dict[str, dict]]:
    """``now[kind][user] = [Alert, ...]``: what holds at the next run."""
    state: dict[str, dict] = {"widgets": {}, "bolts": {}}
    for name, title in (("widgets", "Widgets"), ("bolts", "Bolts")):
        kind = AlertKind(
            kind=name,
            title=title,
            intro=f"Do something about the {name}.",
            subject=title + ": {count} new ({urgent} urgent)",
            collect=lambda name=name: state[name],
        )
        monkeypatch.setitem(alerts._KINDS, name, kind)
    yield state


def person(name: str, **kwargs) -> User:
    return User.objects.create_user(name, email=kwargs.pop("email", f"{name}@example.com"), **kwargs)


def run(*kinds: str) -> int:
    return alerts_run("test.alerts", list(kinds) or ["widgets"])


def test_a_condition_is_mailed_once_until_it_clears_and_comes_back(now):
    ann = person("ann")
    a, b = Alert("WH1:A", "A is low"), Alert("WH1:B", "B is low")

    now["widgets"] = {ann: [a, b]}
    assert run() == 1  # first run: both new, one mail
    (first,) = mail.outbox
    assert first.to == ["ann@example.com"] and first.subject == "Widgets: 2 new (0 urgent)"
    assert "A is low" in first.body and "B is low" in first.body

    assert run() == 0  # the same conditions: nothing again
    now["widgets"] = {ann: [b]}  # A clears
    assert run() == 0  # a clearing is not news
    assert AlertCondition.objects.get(key="WH1:A").cleared_at is not None
    now["widgets"] = {ann: [a, b]}  # A comes back
    assert run() == 1
    assert len(mail.outbox) == 2
    assert "A is low" in mail.outbox[1].body and "B is low" not in mail.outbox[1].body
    # A's history: one closed row and one open; B: one open row the whole time.
    assert AlertCondition.objects.filter(key="WH1:A").count() == 2
    assert AlertCondition.objects.filter(key="WH1:B").count() == 1


def test_one_digest_per_recipient_per_run_across_kinds(now):
    ann, bob = person("ann"), person("bob")
    now["widgets"] = {ann: [Alert("W1", "widget 1"), Alert("W2", "widget 2", urgent=True)], bob: [Alert("W1", "w1")]}
    now["bolts"] = {ann: [Alert("B1", "bolt 1")]}
    assert run("widgets", "bolts") == 2
    by_person = {m.to[0]: m for m in mail.outbox}
    assert set(by_person) == {"ann@example.com", "bob@example.com"}
    # ann: 2 widgets + 1 bolt = 3 new in one mail; bob: his one widget, in the kind's own words.
    assert by_person["ann@example.com"].subject == "Inventory alerts: 3 new (Widgets 2, Bolts 1)"
    assert by_person["bob@example.com"].subject == "Widgets: 1 new (0 urgent)"
    body = by_person["ann@example.com"].body
    assert body.index("Widgets: 2 new") < body.index("widget 1") < body.index("Bolts: 1 new") < body.index("bolt 1")


def test_each_digest_has_a_text_and_an_escaped_html_part(now):
    ann = person("ann")
    now["widgets"] = {ann: [Alert("X", "<script>alert(1)</script> & co", urgent=True)]}
    run()
    (message,) = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    assert "<script>alert(1)</script> & co" in message.body  # text: as written
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html and "<script>" not in html


def test_an_opt_out_stops_one_kind_for_one_person(now):
    ann, bob = person("ann"), person("bob")
    AlertOptOut.objects.create(user=ann, kind="widgets")
    now["widgets"] = {ann: [Alert("W1", "widget 1")], bob: [Alert("W1", "widget 1")]}
    now["bolts"] = {ann: [Alert("B1", "bolt 1")]}
    run("widgets", "bolts")
    by_person = {m.to[0]: m for m in mail.outbox}
    assert "widget" not in by_person["ann@example.com"].body and "bolt 1" in by_person["ann@example.com"].body
    assert "widget 1" in by_person["bob@example.com"].body
    assert not AlertCondition.objects.filter(recipient=ann, kind="widgets").exists()


def test_inactive_people_and_people_without_an_address_get_nothing(now):
    gone, mute = person("gone", is_active=False), person("mute", email="")
    now["widgets"] = {gone: [Alert("W1", "w")], mute: [Alert("W1", "w")]}
    assert run() == 0 and mail.outbox == [] and not AlertCondition.objects.exists()


def test_a_failed_mail_is_retried_alone_and_the_others_are_not_sent_twice(now, monkeypatch):
    ann, bob = person("ann"), person("bob")
    now["widgets"] = {ann: [Alert("W1", "w1")], bob: [Alert("W1", "w1")]}
    real_send = EmailMultiAlternatives.send

    def bob_fails(message, fail_silently=False):
        if message.to == ["bob@example.com"]:
            raise ConnectionRefusedError("smtp down")
        return real_send(message, fail_silently)

    monkeypatch.setattr(EmailMultiAlternatives, "send", bob_fails)
    with pytest.raises(AlertMailFailed):
        run()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    failed = JobRun.objects.get()
    assert failed.status == "failed" and [s["to"] for s in failed.sent] == ["ann@example.com"]

    monkeypatch.setattr(EmailMultiAlternatives, "send", real_send)  # the mail server is back: the retry
    assert run() == 1
    assert [m.to for m in mail.outbox] == [["ann@example.com"], ["bob@example.com"]]
    assert run() == 0  # and nothing after that


def test_the_run_is_recorded_with_what_it_sent(now):
    ann = person("ann")
    now["widgets"] = {ann: [Alert("WH1:A", "A"), Alert("WH1:B", "B")]}
    run()
    record = JobRun.objects.get(job="test.alerts")
    assert record.status == "ok" and record.summary == "1 digest(s) sent."
    assert record.sent == [
        {"to": "ann@example.com", "subject": "Widgets: 2 new (0 urgent)", "alerts": ["widgets:WH1:A", "widgets:WH1:B"]}
    ]


# --- The admin -------------------------------------------------------------------------------------


def staff(name: str, *, superuser: bool = False) -> Client:
    user = person(name, is_staff=True, is_superuser=superuser)
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_shows_each_run_and_what_it_sent(now):
    now["widgets"] = {person("ann"): [Alert("WH1:A", "A")]}
    run()
    client = staff("root", superuser=True)
    record = JobRun.objects.get()
    page = client.get(f"/admin/common/jobrun/{record.pk}/change/").content.decode()
    assert "ann@example.com" in page and "Widgets: 1 new (0 urgent)" in page and "widgets:WH1:A" in page
    assert client.post(f"/admin/common/jobrun/{record.pk}/delete/").status_code == 403


def test_staff_manage_only_their_own_opt_outs(now):
    carol = staff("carol")
    response = carol.post("/admin/common/alertoptout/add/", {"kind": "widgets"})
    assert response.status_code == 302
    mine = AlertOptOut.objects.get()
    assert mine.user.username == "carol" and mine.kind == "widgets"
    again = carol.post("/admin/common/alertoptout/add/", {"kind": "widgets"})
    assert again.status_code == 200 and "You already do not receive this kind of alert." in again.content.decode()
    assert carol.post("/admin/common/alertoptout/add/", {"kind": "nonsense"}).status_code == 200
    assert AlertOptOut.objects.count() == 1  # neither the twin nor the unknown kind was saved

    dave = staff("dave")
    assert dave.get("/admin/common/alertoptout/").status_code == 200
    assert "widgets" not in dave.get("/admin/common/alertoptout/").content.decode().lower()
    assert dave.post(f"/admin/common/alertoptout/{mine.pk}/delete/", {"post": "yes"}).status_code in (302, 403)
    assert AlertOptOut.objects.filter(pk=mine.pk).exists()  # dave cannot remove carol's
    assert carol.post(f"/admin/common/alertoptout/{mine.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not AlertOptOut.objects.exists()


def test_every_recorded_job_retries_with_backoff_and_a_failed_digest_counts_as_retryable():
    from common.tasks import backup_nightly, backup_verify_weekly
    from purchasing.tasks import reorder_alerts
    from stock.tasks import expiry_alerts, reconcile_nightly

    for task in (backup_nightly, backup_verify_weekly, reorder_alerts, expiry_alerts, reconcile_nightly):
        assert OSError in task.autoretry_for, task.name
        assert (task.retry_backoff, task.retry_backoff_max, task.max_retries) == (60, 1800, 4), task.name
    assert issubclass(AlertMailFailed, OSError)

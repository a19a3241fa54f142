"""The admin and the input-hygiene rule (issue 12, finding 3): "Run selected tasks" while the
job queue (the Celery broker) is unreachable is a message, not a 500, and starts nothing; admin
forms refuse NUL characters in text fields with a form error, writing nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from catalog.models import Warehouse
from inventory_site.celery import app as celery_app

CLOSED_PORT_BROKER = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1


@pytest.fixture
def admin_client(db) -> Client:
    user = User.objects.create_superuser("root", email="root@example.com", password=None)
    client = Client(raise_request_exception=False)  # a 500 comes back as the response a browser sees
    client.force_login(user)
    return client


@pytest.fixture
def broker_down() -> Iterator[None]:
    """The Celery app's broker pointed at a closed port (its connection pools dropped, so the
    next message needs a new connection), restored afterwards."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_connection_timeout, celery_app._pool, celery_app.amqp._producer_pool
    conf.broker_url, conf.broker_connection_timeout = CLOSED_PORT_BROKER, 1
    celery_app._pool = celery_app.amqp._producer_pool = None
    yield
    conf.broker_url, conf.broker_connection_timeout, celery_app._pool, celery_app.amqp._producer_pool = saved


def test_run_selected_tasks_with_the_broker_unreachable_is_a_message_not_a_500(admin_client, broker_down):
    crontab = CrontabSchedule.objects.create(minute="0", hour="3")
    task = PeriodicTask.objects.create(name="Nightly check", task="stock.reconcile_nightly", crontab=crontab)
    changelist = reverse("admin:django_celery_beat_periodictask_changelist")

    response = admin_client.post(changelist, {"action": "run_tasks", "_selected_action": [task.pk]}, follow=True)

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    assert shown[0].startswith("The job queue is unreachable")
    assert "nothing was started" in shown[0]
    task.refresh_from_db()
    assert task.total_run_count == 0 and task.last_run_at is None


def test_a_nul_in_an_admin_text_field_is_a_form_error_and_nothing_is_saved(admin_client):
    url = reverse("admin:catalog_warehouse_add")

    response = admin_client.post(url, {"code": "NUL", "name": "Bad\x00name", "time_zone": "UTC", "active": "on"})

    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    assert not Warehouse.objects.filter(code="NUL").exists()


@pytest.mark.parametrize("query", ["code=%00", "code__exact=A%00", "q=%00", "%00=1"])
def test_a_nul_in_an_admin_query_string_is_a_400_naming_the_parameter(admin_client, query):
    # On PostgreSQL, ?code=%00 on the warehouse list reached the query: ValueError, a 500.
    response = admin_client.get(reverse("admin:catalog_warehouse_changelist") + "?" + query)

    assert response.status_code == 400
    text = response.content.decode()
    assert "contains a NUL character" in text
    assert "\x00" not in text  # named escaped


def test_every_admin_form_refuses_nul_in_every_text_field(admin_client):
    """The general mechanism for admin forms is Django's own: every form ``CharField`` (what
    model CharFields and TextFields become) carries ProhibitNullCharactersValidator. Walk every
    registered ModelAdmin's form so that a custom field that is not a CharField is noticed."""
    from django import forms
    from django.contrib import admin
    from django.core.exceptions import ValidationError
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(username="root")
    checked = 0
    for model_admin in admin.site._registry.values():
        if not model_admin.has_add_permission(request):
            continue
        form = model_admin.get_form(request)()
        for field in form.fields.values():
            if isinstance(field, forms.CharField) and not isinstance(field, forms.JSONField):
                with pytest.raises(ValidationError):
                    field.run_validators("a\x00b")
                checked += 1
    assert checked > 30, checked  # the walk reached the forms (a few dozen text fields)


def test_form_data_cannot_carry_a_lone_surrogate(admin_client):
    """Why admin forms need no surrogate rule of their own: the bytes of U+D800 in UTF-8
    (ED A0 80) are not valid UTF-8, and Django decodes form data with replacement characters,
    so what reaches the form (and the row) is text, three U+FFFD, never a surrogate."""
    body = b"code=SUR&name=Bad%ED%A0%80name&time_zone=UTC&active=on"
    url = reverse("admin:catalog_warehouse_add")

    admin_client.generic("POST", url, body, content_type="application/x-www-form-urlencoded")

    assert Warehouse.objects.get(code="SUR").name == "Bad\ufffd\ufffd\ufffdname"

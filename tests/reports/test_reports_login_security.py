"""Login security: django-axes locks a username after five failed admin logins from one address
(even the right password is then refused, with the lockout page), a success clears the count, and
production settings pass ``manage.py check --deploy`` and refuse the development secret key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "correct horse battery staple"
LOCKOUT_TEXT = "too many failed login attempts"


@pytest.fixture
def carol() -> User:
    return User.objects.create_user("carol", "carol@example.com", PASSWORD, is_staff=True)


def _login(client: Client, username: str, password: str, ip: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_sixth_attempt_after_five_failures_is_refused_even_with_the_right_password(carol):
    client = Client()
    for attempt in range(1, 5):
        response = _login(client, "carol", f"wrong-{attempt}", "10.0.0.1")
        assert response.status_code == 200 and not _logged_in(client)  # the form again, with its error
    fifth = _login(client, "carol", "wrong-5", "10.0.0.1")
    assert fifth.status_code == 429 and LOCKOUT_TEXT in fifth.content.decode().lower()

    sixth = _login(client, "carol", PASSWORD, "10.0.0.1")
    assert sixth.status_code == 429
    assert LOCKOUT_TEXT in sixth.content.decode().lower()
    assert "carol" in sixth.content.decode()
    assert not _logged_in(client)


def test_lockout_does_not_touch_another_username_from_another_address(carol):
    User.objects.create_user("dave", "dave@example.com", PASSWORD, is_staff=True)
    attacker = Client()
    for attempt in range(5):
        _login(attacker, "carol", f"wrong-{attempt}", "10.0.0.1")
    assert _login(attacker, "carol", PASSWORD, "10.0.0.1").status_code == 429

    other = Client()
    response = _login(other, "dave", PASSWORD, "10.0.0.2")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert _logged_in(other)


def test_a_successful_login_resets_the_failure_count(carol):
    client = Client()
    for attempt in range(4):
        _login(client, "carol", f"wrong-{attempt}", "10.0.0.1")
    assert _login(client, "carol", PASSWORD, "10.0.0.1").status_code == 302
    client.logout()
    for attempt in range(4):  # 4 + 4 failures would lock without the reset
        assert _login(client, "carol", f"again-{attempt}", "10.0.0.1").status_code == 200
    assert _login(client, "carol", PASSWORD, "10.0.0.1").status_code == 302
    assert _logged_in(client)


def test_axes_is_wired_first_and_keeps_the_other_backends():
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert "django.contrib.auth.backends.ModelBackend" in settings.AUTHENTICATION_BACKENDS
    assert "guardian.backends.ObjectPermissionBackend" in settings.AUTHENTICATION_BACKENDS
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert settings.AXES_FAILURE_LIMIT == 5 and settings.AXES_COOLOFF_TIME.total_seconds() == 3600
    # By (username, address) and by address alone (issue 12: password spraying locks the address).
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"], "ip_address"]
    assert settings.AXES_RESET_ON_SUCCESS
    assert len(settings.AUTH_PASSWORD_VALIDATORS) == 4


def _manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py *args`` in a fresh process: this environment without DATABASE_URL, SECRET_KEY
    and SECURE_* overrides, plus ``env``; the SQLite default in ``tmp_path``."""
    dropped = ("DATABASE_URL", "SECRET_KEY")
    environment = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("SECURE_")}
    environment.update(INVENTORY_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_checks(tmp_path):
    result = _manage(
        tmp_path,
        "check",
        "--deploy",
        DEBUG="false",
        SECRET_KEY=secrets.token_hex(32),
        ALLOWED_HOSTS="inventory.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_the_development_secret_key(tmp_path):
    result = _manage(tmp_path, "check", DEBUG="false", ALLOWED_HOSTS="inventory.example.com")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr

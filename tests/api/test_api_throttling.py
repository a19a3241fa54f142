"""Throttles, lockouts and token lifetime (issue 12, 5; docs/api.md "Throttling and tokens"):
a burst of invalid tokens from one address gets 429 with Retry-After; each user has a request
rate; password spraying from one address locks the address; a locked-out user's token is
refused; tokens may expire and are rotated with ``create_api_token --rotate``."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common import roles
from common.api.auth import AuthFailureThrottle

ITEMS = "/api/v1/items/"
PASSWORD = "correct horse battery staple"


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def token_of(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def test_a_burst_of_random_tokens_from_one_address_gets_429_with_retry_after(world, user):
    # Default API_THROTTLE_AUTH_FAILURES = 20/minute: 20 answers of 401, then 429.
    statuses = [
        token_client(secrets.token_hex(20)).get(ITEMS, REMOTE_ADDR="203.0.113.7").status_code for _ in range(25)
    ]
    assert statuses == [401] * 20 + [429] * 5  # before: 25 x 401

    refused = token_client(secrets.token_hex(20)).get(ITEMS, REMOTE_ADDR="203.0.113.7")
    assert refused.json()["code"] == "throttled"
    assert "Too many invalid tokens from this address" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 60
    # While the address is throttled, no token from it is even looked up, a valid one included.
    clerk_key = token_of(user(roles.WAREHOUSE_CLERK))
    assert token_client(clerk_key).get(ITEMS, REMOTE_ADDR="203.0.113.7").status_code == 429
    # Another address is not affected.
    assert token_client(clerk_key).get(ITEMS, REMOTE_ADDR="203.0.113.8").status_code == 200


def test_an_overshot_limit_still_sends_retry_after(world, user):
    # Concurrent bad tokens (several web workers) can record more failures than the limit of
    # 20 before any of them is refused; every 429 must still say when to come back.
    throttle = AuthFailureThrottle()
    now = throttle.timer()
    key = throttle.cache_format % {"scope": throttle.scope, "ident": "203.0.113.9"}
    # 28 failures, newest first, one a second: the 20th newest happened 19 s ago, so the
    # address is below the limit again when it leaves the 60 s window: in 60 - 19 = 41 s.
    cache.set(key, [now - age for age in range(28)], 60)

    refused = token_client(secrets.token_hex(20)).get(ITEMS, REMOTE_ADDR="203.0.113.9")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 41  # before: no Retry-After at all


@override_settings(API_THROTTLE_USER="3/minute")
def test_each_user_has_a_request_rate(world, user):
    clerk = token_client(token_of(user(roles.WAREHOUSE_CLERK)))
    assert [clerk.get(ITEMS).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = clerk.get(ITEMS)
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    # Another user's budget is their own.
    assert token_client(token_of(user(roles.AUDITOR))).get(ITEMS).status_code == 200


def _admin_login(client: Client, username: str, password: str, ip: str):  # noqa: ANN202
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def test_password_spraying_across_users_from_one_address_locks_the_address(db):
    for name in ("ann", "bob", "cat", "dan", "eve", "fay"):
        User.objects.create_user(name, password=PASSWORD, is_staff=True)
    sprayer = Client()
    for name in ("ann", "bob", "cat", "dan"):
        assert _admin_login(sprayer, name, "Summer2026!", "198.51.100.9").status_code == 200
    # The fifth failure from the address, on a fifth username, locks the address.
    assert _admin_login(sprayer, "eve", "Summer2026!", "198.51.100.9").status_code == 429  # before: 200
    # fay's right password from that address is refused too; from her own address she signs in.
    assert _admin_login(Client(), "fay", PASSWORD, "198.51.100.9").status_code == 429
    assert _admin_login(Client(), "fay", PASSWORD, "198.51.100.10").status_code == 302


def test_a_locked_out_users_token_is_refused_with_a_message(world, user):
    carol = user(roles.WAREHOUSE_CLERK, username="carol")
    carol.set_password(PASSWORD)
    carol.save()
    key = token_of(carol)
    assert token_client(key).get(ITEMS, REMOTE_ADDR="192.0.2.1").status_code == 200
    for attempt in range(5):
        Client().post("/floor/login/", {"username": "carol", "password": f"wrong-{attempt}"}, REMOTE_ADDR="192.0.2.1")

    refused = token_client(key).get(ITEMS, REMOTE_ADDR="192.0.2.1")

    assert refused.status_code == 401  # before: 200, the lockout did not reach the API
    assert refused.json()["code"] == "locked_out"
    assert "carol is locked out after too many failed sign-ins" in refused.json()["detail"]


@override_settings(API_TOKEN_TTL_HOURS=24)
def test_an_expired_token_is_refused_and_rotation_issues_a_working_one(world, user):
    clerk = user(roles.WAREHOUSE_CLERK)
    key = token_of(clerk)
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=25))  # 25 > 24 hours

    refused = token_client(key).get(ITEMS)
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_expired"
    assert "create_api_token USER --rotate" in refused.json()["detail"]

    with pytest.raises(CommandError, match="expired .* run with --rotate"):
        call_command("create_api_token", clerk.username, stdout=io.StringIO(), stderr=io.StringIO())
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", clerk.username, "--rotate", stdout=out, stderr=err)
    new_key = out.getvalue().strip()
    assert new_key != key
    assert "It expires at" in err.getvalue()
    assert token_client(new_key).get(ITEMS).status_code == 200
    assert token_client(key).get(ITEMS).status_code == 401  # the old key is gone


def test_tokens_do_not_expire_by_default(world, user):
    key = token_of(user(roles.WAREHOUSE_CLERK))
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(days=3650))
    assert token_client(key).get(ITEMS).status_code == 200

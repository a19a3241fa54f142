"""Sessions on shared handhelds end after a shift (``SESSION_HOURS``, 12), however busy; a
login whose ``next=`` is refused lands on the user's home, not on /accounts/profile/ (issue 12, 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from tests.floor.conftest import World


def floor_login(client: Client, user, next_url: str = ""):  # noqa: ANN001, ANN201
    query = f"?next={next_url}" if next_url else ""
    return client.post(
        f"/floor/login/{query}",
        {"username": user.username, "password": f"{user.username}-demo-2026", "next": next_url},
        REMOTE_ADDR="10.1.1.1",
    )


def land(client: Client, url: str) -> str:
    """Follow redirects by hand (the floor passes /floor/ twice: home, warehouse chooser, home,
    which the test client's follow=True takes for a loop); the path of the page shown."""
    for _ in range(6):
        response = client.get(url)
        if response.status_code != 302:
            assert response.status_code == 200, (url, response.status_code)
            return url.partition("?")[0]
        url = response["Location"]
    raise AssertionError("too many redirects")


def test_a_floor_session_ends_12_hours_after_sign_in_however_busy(world: World, scanner):
    client = Client()
    signed_in_at = timezone.now()
    assert floor_login(client, world.clerk).status_code == 302
    client.post("/floor/warehouse/", {"warehouse": str(world.ams.pk)})
    first_end = client.session.get_expiry_date()
    # Before: 14 days (Django's default age), renewed by every scan.
    assert abs(first_end - (signed_in_at + timedelta(hours=12))) < timedelta(minutes=1)

    scanner("receive", client).scan("3")  # a busy handheld: the session is saved on every scan
    assert client.session.get_expiry_date() == first_end  # the end does not move
    assert client.cookies["sessionid"]["max-age"] <= 12 * 3600


def test_an_expired_shift_is_signed_out(world: World):
    client = Client()
    floor_login(client, world.clerk)
    session = client.session
    session.set_expiry(timezone.now() - timedelta(seconds=1))  # the shift ended
    session.save()

    response = client.get("/floor/")

    assert response.status_code == 302
    assert response["Location"].startswith("/floor/login/")


@override_settings(SESSION_HOURS=8)
def test_the_shift_length_is_a_setting(world: World):
    client = Client()
    floor_login(client, world.clerk)
    client.get("/floor/warehouse/")
    assert client.session.get_expiry_age() <= 8 * 3600


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/"])
def test_a_clerk_whose_next_is_refused_lands_on_the_floor(world: World, evil):
    client = Client()
    response = floor_login(client, world.clerk, evil)
    assert response.status_code == 302
    assert "evil" not in response["Location"]
    assert land(client, response["Location"]) == "/floor/"


@pytest.mark.parametrize("login", ["/admin/login/", "/api/v1/auth/login/"])
def test_staff_whose_next_is_refused_land_on_the_admin(world: World, login):
    client = Client()
    manager = world.manager
    response = client.post(
        f"{login}?next=https://evil.example/",
        {"username": manager.username, "password": f"{manager.username}-demo-2026", "next": "https://evil.example/"},
        REMOTE_ADDR="10.1.1.2",
    )
    assert response.status_code == 302
    assert response["Location"] != "/accounts/profile/"  # before: Django's default, a 404 here
    assert land(client, response["Location"]) == "/admin/"


def test_a_clerk_signing_in_through_the_api_login_lands_on_the_floor(world: World):
    client = Client()
    clerk = world.clerk
    response = client.post(
        "/api/v1/auth/login/?next=https://evil.example/",
        {"username": clerk.username, "password": f"{clerk.username}-demo-2026", "next": "https://evil.example/"},
        REMOTE_ADDR="10.1.1.3",
    )
    assert response.status_code == 302
    assert land(client, response["Location"]) == "/floor/"

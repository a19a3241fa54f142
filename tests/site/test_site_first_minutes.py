"""The first minutes of a newcomer: a clerk who tries the admin is sent to the floor pages (not told
their password is wrong), both login pages link each other, the admin links the floor pages, and the
demo script prints where each login signs in."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from guardian.shortcuts import assign_perm

from catalog.models import Warehouse
from common import roles

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def test_a_clerk_at_the_admin_login_is_sent_to_the_floor_pages():
    User.objects.create_user("chris", "", PASSWORD, is_staff=False)
    client = Client()

    response = client.post("/admin/login/", {"username": "chris", "password": PASSWORD, "next": "/admin/"})

    page = response.content.decode()
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "chris signs in on the floor pages, not the admin: go to /floor/login/." in page
    assert "staff account" not in page


def test_a_wrong_password_at_the_admin_still_reads_as_one():
    User.objects.create_user("chris", "", PASSWORD, is_staff=False)

    page = Client().post("/admin/login/", {"username": "chris", "password": "wrong"}).content.decode()

    assert "correct username and password" in page and "floor pages, not the admin" not in page


def test_the_login_pages_link_each_other_and_the_admin_links_the_floor():
    admin_login = Client().get("/admin/login/").content.decode()
    floor_login = Client().get("/floor/login/").content.decode()
    assert 'href="/floor/login/"' in admin_login
    assert 'href="/admin/"' in floor_login

    staff = Client()
    staff.force_login(User.objects.create_user("anna", "", PASSWORD, is_staff=True, is_superuser=True))
    home = staff.get("/admin/").content.decode()
    assert 'href="/floor/"' in home and "Floor pages" in home
    assert "Perpetual inventory" in home


def test_the_demo_script_prints_the_floor_url_beside_the_clerk_login():
    script = (Path(__file__).resolve().parents[2] / "scripts" / "demo.sh").read_text()
    assert "Clerk pages (scanners, phones):     http://127.0.0.1:${PORT}/floor/" in script
    assert 'where = "/admin/" if spec.is_staff else "/floor/"' in script


def test_a_refusal_in_production_says_why_not_just_403_forbidden(settings):
    settings.DEBUG = False
    mia = User.objects.create_user("mia", "", PASSWORD, is_staff=True)
    mia.groups.add(Group.objects.get(name=roles.INVENTORY_MANAGER))
    rtm = Warehouse.objects.create(code="RTM", name="Rotterdam")
    assign_perm("catalog.view_warehouse_stock", mia, rtm)
    client = Client(raise_request_exception=False)
    client.force_login(mia)

    response = client.get(f"/admin/catalog/warehouse/{rtm.pk}/permissions/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page
    assert "Granting and revoking rights in warehouse RTM needs" in page  # the refusal's own words

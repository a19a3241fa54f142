"""The same hole elsewhere (issue 12, finding 1): /admin/auth/ lets no one raise their own
rights, and the API has no endpoint that writes users, groups or permissions.

``hal`` is a help-desk account: staff, holding only view and change of users and groups (no
role). Django's own user admin let him tick "superuser", join Administrator, take any
permission and set a superuser's password."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from drf_spectacular.generators import SchemaGenerator

from inventory_site import roles

pytestmark = pytest.mark.django_db


def _perm(full: str) -> Permission:
    app_label, codename = full.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def hal() -> User:
    user = User.objects.create_user("hal", "hal@example.com", None, is_staff=True)
    user.user_permissions.add(
        *(_perm(p) for p in ("auth.view_user", "auth.change_user", "auth.view_group", "auth.change_group"))
    )
    return user


def _user_form(user: User, **changes) -> dict:
    """The change form of ``user`` as the browser would send it, with ``changes``."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on" if user.is_staff else "",
        "groups": list(user.groups.values_list("pk", flat=True)),
        "user_permissions": list(user.user_permissions.values_list("pk", flat=True)),
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def _change_url(user: User) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def test_a_user_admin_cannot_join_a_group_or_take_a_permission_he_lacks(client, hal):
    administrators = Group.objects.get(name=roles.ADMINISTRATOR)
    client.force_login(hal)
    offered = client.get(_change_url(hal)).context["adminform"].form.fields
    assert administrators not in offered["groups"].queryset
    assert set(offered["user_permissions"].queryset) == set(hal.user_permissions.all())

    response = client.post(_change_url(hal), _user_form(hal, groups=[administrators.pk]))
    assert response.status_code == 200 and "groups" in response.context["adminform"].form.errors
    delete_user = _perm("auth.delete_user")
    response = client.post(_change_url(hal), _user_form(hal, user_permissions=[delete_user.pk]))
    assert response.status_code == 200 and "user_permissions" in response.context["adminform"].form.errors

    hal.refresh_from_db()
    assert not hal.groups.exists()
    assert not hal.user_permissions.filter(pk=delete_user.pk).exists()


def test_a_user_admin_cannot_make_anyone_a_superuser(client, hal):
    client.force_login(hal)
    response = client.post(_change_url(hal), _user_form(hal, is_superuser="on"))
    assert response.status_code == 302  # the rest of the form saves; the flag is read-only
    hal.refresh_from_db()
    assert not hal.is_superuser


def test_a_user_admin_cannot_touch_a_superuser_or_anyone_with_more_rights(client, hal):
    root = User.objects.create_superuser("root", "root@example.com", "old-secret-1234")
    boss = User.objects.create_user("boss", "boss@example.com", None, is_staff=True)
    boss.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    client.force_login(hal)
    assert client.get(f"/admin/auth/user/{root.pk}/password/").status_code == 403
    new_password = {"password1": "taken-over-9876", "password2": "taken-over-9876", "usable_password": "true"}
    assert client.post(f"/admin/auth/user/{root.pk}/password/", new_password).status_code == 403
    assert client.post(_change_url(root), _user_form(root, email="hal@example.com")).status_code == 403
    assert client.post(_change_url(boss), _user_form(boss, is_staff="")).status_code == 403
    root.refresh_from_db()
    boss.refresh_from_db()
    assert root.check_password("old-secret-1234") and root.email == "root@example.com"
    assert boss.is_staff


def test_a_group_admin_gives_a_group_only_permissions_he_holds(client, hal):
    helpers = Group.objects.create(name="Helpers")
    administrators = Group.objects.get(name=roles.ADMINISTRATOR)
    client.force_login(hal)
    delete_user = _perm("auth.delete_user")
    response = client.post(
        f"/admin/auth/group/{helpers.pk}/change/", {"name": "Helpers", "permissions": [delete_user.pk]}
    )
    assert response.status_code == 200 and "permissions" in response.context["adminform"].form.errors
    assert not helpers.permissions.exists()
    view_user = _perm("auth.view_user")
    ok = client.post(f"/admin/auth/group/{helpers.pk}/change/", {"name": "Helpers", "permissions": [view_user.pk]})
    assert ok.status_code == 302 and list(helpers.permissions.all()) == [view_user]
    # a group holding more than hal (Administrator) is read-only to him
    assert client.post(f"/admin/auth/group/{administrators.pk}/change/", {"name": "Mine"}).status_code == 403
    assert Group.objects.filter(name=roles.ADMINISTRATOR).exists()


def test_an_inventory_manager_cannot_reach_the_user_admin_at_all(client):
    mia = User.objects.create_user("mia", "mia@example.com", None, is_staff=True)
    mia.groups.add(Group.objects.get(name=roles.INVENTORY_MANAGER))
    administrators = Group.objects.get(name=roles.ADMINISTRATOR)
    client.force_login(mia)
    assert client.get(_change_url(mia)).status_code == 403
    groups = [administrators.pk, *mia.groups.values_list("pk", flat=True)]
    assert client.post(_change_url(mia), _user_form(mia, groups=groups, is_superuser="on")).status_code == 403
    assert client.get(f"/admin/auth/group/{administrators.pk}/change/").status_code == 403
    mia.refresh_from_db()
    assert list(mia.groups.values_list("name", flat=True)) == [roles.INVENTORY_MANAGER] and not mia.is_superuser


def test_the_api_has_no_endpoint_that_writes_rights():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert paths  # the generator saw the API
    assert not [path for path in paths if re.search(r"user|group|permission|access", path)]
    for path, operations in paths.items():
        if path.startswith("/api/v1/warehouses/"):
            assert set(operations) <= {"get", "parameters"}, path  # read-only

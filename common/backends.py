"""The site's model-permission backend: Django's ``ModelBackend`` with a user's own and their
groups' permissions read in ONE plain-SQL statement (Django reads them in two querysets, whose
building cost a clerk's API write more CPU than its posting: docs/api.md). Same answers, same
per-object cache (``_perm_cache`` on the user object, which lives for one request or one task:
a revoked permission counts from the next request; tests/api/test_api_request_cost.py).

It comes before ``ModelBackend`` in ``AUTHENTICATION_BACKENDS`` and checks no password:
sign-ins stay with ``ModelBackend`` (sessions name the backend that signed the user in, so
existing ones stay valid; it loads a session's user like ``ModelBackend`` for the test
client's ``force_login``, which picks it), whose permission answers then come from the
``_perm_cache`` this backend filled (no statement of its own).
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Model

from common.db import fetch_rows


class OneQueryModelBackend(ModelBackend):
    """``get_all_permissions`` of an active user who is not a superuser: the union of what
    ``_get_user_permissions`` (the user's ``user_permissions``) and ``_get_group_permissions``
    (the permissions of the user's ``groups``) read, as one statement (``_permissions_sql``).
    Superusers, inactive or anonymous users and object permissions take Django's path
    unchanged; tests/api/test_api_request_cost.py compares the answers with Django's."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        return None  # ModelBackend signs users in (see the module's docstring)

    def get_all_permissions(self, user_obj: Any, obj: Model | None = None) -> set[str]:
        if user_obj.is_superuser or not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            rows = fetch_rows(_permissions_sql(connection.vendor), [user_obj.pk, user_obj.pk])
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache


def m2m_table(model: type[Model], name: str) -> tuple[str, str, str]:
    """The table of ``model``'s many-to-many field ``name`` and its two columns: this side's
    and the other side's (names from ``_meta``, quoted)."""
    field = model._meta.get_field(name)
    quote = connection.ops.quote_name
    through = field.remote_field.through._meta.db_table  # type: ignore[union-attr]
    return quote(through), quote(field.m2m_column_name()), quote(field.m2m_reverse_name())  # type: ignore[union-attr]


@functools.cache
def _permissions_sql(vendor: str) -> str:
    """``app_label`` and ``codename`` of the permissions granted to a user (first parameter)
    directly or through a group (second parameter), each once."""
    quote = connection.ops.quote_name
    own, own_user, own_permission = m2m_table(get_user_model(), "user_permissions")
    groups, groups_user, groups_group = m2m_table(get_user_model(), "groups")
    granted, granted_group, granted_permission = m2m_table(Group, "permissions")
    return (
        f"SELECT ct.{quote('app_label')}, p.{quote('codename')} FROM {quote(Permission._meta.db_table)} p "  # noqa: S608 - names from _meta
        f"JOIN {quote(ContentType._meta.db_table)} ct ON ct.id = p.content_type_id "
        f"WHERE p.id IN (SELECT {own_permission} FROM {own} WHERE {own_user} = %s) "
        f"OR p.id IN (SELECT gp.{granted_permission} FROM {granted} gp "
        f"JOIN {groups} ug ON ug.{groups_group} = gp.{granted_group} WHERE ug.{groups_user} = %s)"
    )

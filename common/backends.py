"""The site's model-permission backend: Django's ``ModelBackend`` with a user's own and their
groups' permissions read in ONE statement (Django reads them in two). Same answers, same
per-object cache (``_perm_cache`` on the user object, which lives for one request or one task:
a revoked permission counts from the next request; tests/api/test_api_request_cost.py).

It comes before ``ModelBackend`` in ``AUTHENTICATION_BACKENDS`` and checks no password:
sign-ins stay with ``ModelBackend`` (sessions name the backend that signed the user in, so
existing ones stay valid; it loads a session's user like ``ModelBackend`` for the test
client's ``force_login``, which picks it), whose permission answers then come from the
``_perm_cache`` this backend filled (no statement of its own).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Model, Q


class OneQueryModelBackend(ModelBackend):
    """``get_all_permissions`` of an active user who is not a superuser: the union of
    ``_get_user_permissions`` and ``_get_group_permissions`` (Django's own querysets, so custom
    rules in them still hold) as one query with two sub-selects. Superusers, inactive or
    anonymous users and object permissions take Django's path unchanged."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        return None  # ModelBackend signs users in (see the module's docstring)

    def get_all_permissions(self, user_obj: Any, obj: Model | None = None) -> set[str]:
        if user_obj.is_superuser or not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            own = self._get_user_permissions(user_obj).values("pk")
            groups = self._get_group_permissions(user_obj).values("pk")
            rows = (
                Permission.objects.filter(Q(pk__in=own) | Q(pk__in=groups))
                .order_by()
                .values_list("content_type__app_label", "codename")
            )
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache

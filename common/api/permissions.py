"""Who may call an endpoint: the role's model permissions, and who may read the API's docs.

The warehouse scope is applied by the services (writes) and by each view's queryset (reads).
Not at import: ``rest_framework.views``, which reads ``DEFAULT_PERMISSION_CLASSES`` (a class
defined here).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request


class ModelPermissions(DjangoModelPermissions):
    """The role's model permissions: ``view`` to read, ``add``/``change``/``delete`` to write (of
    the view's queryset model). ``view.required_permissions`` maps an action name (viewsets) or
    an HTTP method to the permissions it needs instead, for actions that are not plain CRUD
    (reversing a movement, consuming a reservation) and for views without a queryset."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        required: dict[str, list[str]] = getattr(view, "required_permissions", {})
        action = getattr(view, "action", None)
        if action in required:
            return self._has(request, required[action])
        if request.method in required:
            return self._has(request, required[request.method])
        if getattr(view, "_ignore_model_permissions", False):  # the router's API root
            return True
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return request.method == "OPTIONS"
        # DjangoModelPermissions.has_permission, with the refusal named (an unknown method: 405)
        return self._has(request, self.get_required_permissions(request.method, self._queryset(view).model))

    def _has(self, request: Request, perms: list[str]) -> bool:
        """``has_perms``, and when refused the 403 names what is missing (DRF reads ``message``
        of this instance, which lives for one request)."""
        missing = [perm for perm in perms if not request.user.has_perm(perm)]
        if missing:
            self.message = (
                f"{request.user.get_username()} lacks the permission {', '.join(missing)} for this request: "
                "ask an administrator for a role that has it."
            )
        return not missing


class DocsAccess(BasePermission):
    """The schema and the docs pages: public only with ``API_DOCS_PUBLIC`` (default false: a
    production API does not hand its map to strangers); otherwise any signed-in user (a token or
    a session; no role needed: the map says nothing about anyone's data)."""

    message = "Sign in to read the API schema and docs (/api/v1/auth/login/), or send a token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)

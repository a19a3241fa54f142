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
            return request.user.has_perms(required[action])
        if request.method in required:
            return request.user.has_perms(required[request.method])
        if getattr(view, "_ignore_model_permissions", False):  # the router's API root
            return True
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return request.method == "OPTIONS"
        return super().has_permission(request, view)


class DocsAccess(BasePermission):
    """The schema and the docs pages: public only with ``API_DOCS_PUBLIC`` (default false: a
    production API does not hand its map to strangers); otherwise any signed-in user (a token or
    a session; no role needed: the map says nothing about anyone's data)."""

    message = "Sign in to read the API schema and docs (/api/v1/auth/login/), or send a token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)

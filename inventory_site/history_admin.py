"""The history pages of every admin with simple-history (``SimpleHistoryAdmin``): a hand-typed
URL whose id is not an id of the model (``/admin/catalog/item/abc/history/``) answers 404 like a
missing object, instead of a 500 from the database's type error (issue 16, "what a manager
tripped over"). ``inventory_site.urls`` imports this module after every app registered its
admins and before it builds the admin's URLs; the check wraps each admin's own history views
(overrides that scope them to warehouses included)."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin


def _checked(model_admin: admin.ModelAdmin, view: Any) -> Any:
    @wraps(view)
    def checked(request: Any, object_id: str, *args: Any, **kwargs: Any) -> Any:
        try:
            model_admin.model._meta.pk.to_python(unquote(object_id))
        except (ValidationError, ValueError, TypeError):
            raise Http404(f"No {model_admin.model._meta.verbose_name} with id {object_id!r}.") from None
        return view(request, object_id, *args, **kwargs)

    return checked


def check_history_ids(site: admin.AdminSite) -> None:
    for model_admin in site._registry.values():
        if isinstance(model_admin, SimpleHistoryAdmin) and not getattr(model_admin, "_history_ids_checked", False):
            for name in ("history_view", "history_form_view"):
                setattr(model_admin, name, _checked(model_admin, getattr(model_admin, name)))
            model_admin._history_ids_checked = True


check_history_ids(admin.site)

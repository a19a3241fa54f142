"""``/admin/auth/`` without privilege escalation: Django's user and group admin let anyone with
``auth.change_user`` make themselves a superuser, join any group, take any permission, or set
a superuser's password. Here a non-superuser (``catalog.access``, "the same rule"):
- sees ``is_superuser`` read-only;
- is offered only the permissions they hold and the groups whose permissions they all hold (a
  crafted POST with another one is an invalid choice, nothing saved);
- changes, deletes or sets the password of no user or group that holds more than they do (the
  page is read-only for them, or 403 without the view permission).
Today only Administrators hold ``auth`` permissions (inventory_site/roles.py); this keeps it
safe when someone is given a part of them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest

from .access import auth_group_within_reach, auth_groups_assignable, auth_permissions_held, auth_user_within_reach


class GuardedUserAdmin(UserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("is_superuser")
        return fields

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            if db_field.name == "user_permissions":
                kwargs["queryset"] = auth_permissions_held(request.user).select_related("content_type")
            elif db_field.name == "groups":
                kwargs["queryset"] = auth_groups_assignable(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or auth_user_within_reach(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or auth_user_within_reach(request.user, obj))


class GuardedGroupAdmin(GroupAdmin):
    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "permissions" and not request.user.is_superuser:
            kwargs["queryset"] = auth_permissions_held(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or auth_group_within_reach(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or auth_group_within_reach(request.user, obj))


admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.register(User, GuardedUserAdmin)
admin.site.register(Group, GuardedGroupAdmin)

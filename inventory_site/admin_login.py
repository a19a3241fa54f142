"""The admin's login form: a warehouse clerk (no staff access) who signs in at /admin/ is told
where their pages are, instead of Django's "enter the correct username and password for a staff
account", which reads like a wrong password. Only someone who typed the right password sees it."""

from __future__ import annotations

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.urls import reverse


class StaffLoginForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: AbstractBaseUser) -> None:
        if user.is_active and not user.is_staff:
            raise ValidationError(
                "%(username)s signs in on the floor pages, not the admin: go to %(floor)s.",
                code="not_staff",
                params={"username": user.get_username(), "floor": reverse("floor:login")},
            )
        super().confirm_login_allowed(user)

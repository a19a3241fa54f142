"""Who acts: the type of the user a service acts for.

The project keeps Django's own user model (``settings.AUTH_USER_MODEL`` is ``auth.User``), so a
service's ``actor`` is a ``User`` or ``None`` (a system job, a data migration). The doors pass
``request.user`` only after authentication, never ``AnonymousUser``.
"""

from __future__ import annotations

from django.contrib.auth.models import User

Actor = User

__all__ = ["Actor"]

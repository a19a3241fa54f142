"""``python manage.py create_api_token USERNAME``: print the user's API token, creating it if
the user has none; ``--rotate`` (or ``--reset``) replaces it: the old key stops working at once
and the new one's lifetime (``API_TOKEN_TTL_HOURS``, 0: no expiry) starts now. An expired
token is not printed: the command says to rotate it. Clients send it as ``Authorization: Token <key>``; the
token acts with the user's role and warehouse permissions (docs/api.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print the API token of a user, creating it if needed (--rotate: replace it with a new one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate",
            "--reset",
            dest="rotate",
            action="store_true",
            help="Replace the existing token with a new one (the old key stops working).",
        )

    @transaction.atomic
    def handle(self, *args: Any, username: str, rotate: bool = False, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: activate the user first.")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if created and not rotate:
            self.stderr.write(f"Created a token for {username}.")
        elif rotate:
            self.stderr.write(f"Replaced the token of {username}.")
        if settings.API_TOKEN_TTL_HOURS:
            expires = token.created + timedelta(hours=settings.API_TOKEN_TTL_HOURS)
            if expires <= timezone.now():
                raise CommandError(f"The token of {username} expired at {expires:%Y-%m-%d %H:%M}: run with --rotate.")
            self.stderr.write(f"It expires at {expires.isoformat(timespec='minutes')} (API_TOKEN_TTL_HOURS).")
        self.stdout.write(token.key)

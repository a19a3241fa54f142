"""``python manage.py create_api_token USERNAME``: print the user's API token, creating it if
the user has none (``--reset`` replaces it). Clients send it as ``Authorization: Token <key>``;
the token acts with the user's role and warehouse permissions (docs/api.md)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print the API token of a user, creating it if needed (--reset: replace it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reset", action="store_true", help="Replace the existing token with a new one.")

    @transaction.atomic
    def handle(self, *args: Any, username: str, reset: bool = False, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist as exc:
            raise CommandError(f"No user {username!r}.") from exc
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: activate the user first.")
        if reset:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if created and not reset:
            self.stderr.write(f"Created a token for {username}.")
        elif reset:
            self.stderr.write(f"Replaced the token of {username}.")
        self.stdout.write(token.key)

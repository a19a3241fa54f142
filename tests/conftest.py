"""Fixtures every app's tests share. App-specific fixtures live in ``tests/<app>/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher() -> Iterator[None]:
    """Production PBKDF2 costs about half a second per hash; tests need no strength."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """The API's throttle counters live in the default cache (a process-wide local memory in
    tests): every test starts from zero, so a long run never trips a limit by accident."""
    from django.core.cache import cache

    cache.clear()
    yield

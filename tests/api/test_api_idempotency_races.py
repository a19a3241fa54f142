"""Concurrent retries with one ``Idempotency-Key`` (real connections to PostgreSQL, one per
thread): the sale is posted once and every retry gets the first answer.

In a module of its own: the other API modules keep their world in a transaction that stays open
for the whole module, which a ``transactional_db`` test cannot share."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common.models import IdempotentRequest
from stock.models import Movement

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (concurrent connections)"),
]

SALE = {"reference": "ORDER-9", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": "2"}]}


def test_concurrent_retries_post_once_and_all_get_the_first_answer(transactional_db):
    from tests.api.conftest import _build_world

    _build_world()
    user = User.objects.create_superuser("racer", password=None)
    token = Token.objects.create(user=user).key
    key = str(uuid.uuid4())
    clients = 6
    barrier = threading.Barrier(clients)
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def retry() -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            barrier.wait(timeout=10)
            response = client.post("/api/v1/sales/", SALE, format="json", HTTP_IDEMPOTENCY_KEY=key)
            answers.append((response.status_code, response.json()))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=retry) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert len(answers) == clients
    assert {status for status, _ in answers} == {201}
    assert len({str(body) for _, body in answers}) == 1  # the same body, "available" included
    assert Movement.objects.filter(reference_id="ORDER-9").count() == 1
    assert IdempotentRequest.objects.filter(key=f"{user.pk}:{key}").count() == 1

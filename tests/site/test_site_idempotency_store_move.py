"""The idempotency store moved from ``stock`` to ``common`` (issue 13, item 3) in Django's state
only: a database that held stored answers before the move keeps them, readable through
``common.models.IdempotentRequest`` (same table, ``stock_idempotentrequest``), and the content
type is relabelled, not duplicated, so the permissions on it carry over."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from common.models import IdempotentRequest

BEFORE_MOVE = [("stock", "0009_expiry_alerts_schedule"), ("common", None)]


@pytest.mark.django_db(transaction=True)
def test_an_answer_stored_before_the_move_is_replayable_after_it() -> None:
    user = User.objects.create_user("shop")
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_MOVE)  # the schema and state as they were in stock
    old_apps = executor.loader.project_state(BEFORE_MOVE[0]).apps
    OldRequest = old_apps.get_model("stock", "IdempotentRequest")
    OldRequest.objects.create(
        key=f"{user.pk}:k-1", user_id=user.pk, method="POST", path="/api/v1/sales/", fingerprint="f" * 64
    )
    ContentType.objects.get_or_create(app_label="stock", model="idempotentrequest")
    ContentType.objects.filter(app_label="common", model="idempotentrequest").delete()

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # the move, over the old row

    assert IdempotentRequest._meta.db_table == "stock_idempotentrequest"
    assert list(IdempotentRequest.objects.values_list("key", "path")) == [(f"{user.pk}:k-1", "/api/v1/sales/")]
    labels = ContentType.objects.filter(model="idempotentrequest").values_list("app_label", flat=True)
    assert list(labels) == ["common"]  # relabelled, not a second one beside the old

"""Celery queues per kind of work (docs/scaling.md, "Celery queues"): every task
lands in the queue of its kind, and a worker started without -Q still consumes them all."""

from __future__ import annotations

import pytest

from inventory_site.celery import app

KINDS = {"default", "alerts", "imports", "reports", "webhooks"}


def queue_of(task_name: str) -> str:
    """The queue ``apply_async`` would send ``task_name`` to (the app's router, no broker)."""
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("purchasing.reorder_alerts", "alerts"),
        ("stock.expiry_alerts", "alerts"),
        ("stock.reconcile_nightly", "reports"),
        ("stock.purge_idempotency_keys", "default"),
        # names of kinds still to come are routed by their words, not by a list to keep up to date
        ("reports.valuation_export", "reports"),
        ("catalog.import_items_file", "imports"),
        ("purchasing.webhook_deliver", "webhooks"),
        ("stock.low_stock_alerts", "alerts"),
    ],
)
def test_each_task_goes_to_the_queue_of_its_kind(task_name: str, queue: str) -> None:
    assert queue_of(task_name) == queue


def test_every_registered_task_of_the_project_has_a_declared_queue() -> None:
    app.loader.import_default_modules()
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert "stock.reconcile_nightly" in ours  # the discovery found the project's tasks
    declared = {queue.name for queue in app.conf.task_queues}
    assert declared == KINDS
    for name in ours:
        assert queue_of(name) in declared, name


def test_a_worker_without_q_consumes_every_queue_and_with_q_only_those_named() -> None:
    everything = app.amqp.Queues(app.conf.task_queues)
    assert set(everything.consume_from) == KINDS  # `celery worker` on one machine: all kinds
    only = app.amqp.Queues(app.conf.task_queues)
    only.select(["imports", "reports"])  # what `celery worker -Q imports,reports` does
    assert set(only.consume_from) == {"imports", "reports"}

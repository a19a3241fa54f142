"""Shared plumbing below every app (docs/api.md, "Where the plumbing lives").

``common`` imports no app (the import-linter contract in ``pyproject.toml`` checks it): role
names, schedules helpers, the input-hygiene and number rules, the base of every app's refused
actions (``common.errors.DomainError``) and the REST API's pieces (``common.api``: fields,
errors, pagination, permissions, idempotency, parser, token authentication). It is a Django app
only because it owns the idempotency store (``common.models.IdempotentRequest``).
"""

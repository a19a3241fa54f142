"""The refusals of counting (``CountingError`` and its subclasses, each with a ``code``)."""

from __future__ import annotations

from common.errors import DomainError


class CountingError(DomainError):
    """A refused counting action (400 at the API)."""

    code = "counting_error"


class CountStateConflict(CountingError):
    """The count or line is not in the state the action needs (submitted already, decided...)."""

    code = "count_state_conflict"
    http_status = 409

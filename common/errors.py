"""The base of every app's refused business actions.

An app's service raises a subclass of ``DomainError`` that names its own machine-readable
``code`` and ``http_status`` (``stock.services.InsufficientStock``: 409); the API's error
handler (``common.api.errors``) answers ``{"code", "detail", **api_fields()}`` with that status
and knows no app's exception. No DRF and no app here: services import this module.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused business action. ``code`` is machine-readable, ``str()`` (``message``) is for
    people, ``http_status`` is the answer's status at the API (400 unless the subclass says
    otherwise: 409 for a conflict with the current state, such as stock that is not there)."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def api_fields(self) -> dict[str, Any]:
        """Extra JSON fields of the API's error body beside ``code`` and ``detail`` (strings,
        numbers or None). None by default: the ``details`` are for the program, not the wire."""
        return {}

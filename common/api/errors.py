"""The API's error contract: every refusal is ``{"code": ..., "detail": ..., ...}`` with a
machine-readable code and the fitting status (docs/api.md, "Errors").

The handler knows no app: an app's refusal is a ``common.errors.DomainError`` that names its own
``code``, ``http_status`` and extra fields (``api_fields()``); Django's and DRF's own exceptions
are translated here. ``rest_framework.views`` is not imported at import time: it reads the
settings that name this module.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from common import outage
from common.errors import DomainError


class ApiError(exceptions.APIException):
    """An error answered as ``{"code": code, "detail": detail, **extra}`` with ``status``."""

    status_code = 400
    default_code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None, **extra: Any) -> None:
        super().__init__(detail, code or self.default_code)
        self.code = code or self.default_code
        if status is not None:
            self.status_code = status
        self.extra = extra


def error_response(
    code: str, detail: str, status: int, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """The error body, with the request's transaction marked for rollback."""
    from rest_framework.views import set_rollback  # not at import: rest_framework.views reads these settings

    set_rollback()
    return Response({"code": code, "detail": detail, **extra}, status=status, headers=headers)


def body_too_large() -> Response:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(
        "body_too_large",
        f"The request body is larger than {limit} bytes: send fewer lines per request.",
        413,
        limit=limit,
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal as ``{"code", "detail", ...}``; None (a 500) only for a real bug. A
    database that cannot be reached is no bug: 503 ``database_unavailable`` with ``Retry-After``."""
    if outage.database_unavailable(exc):
        response = error_response(outage.CODE, outage.DETAIL, 503, headers={"Retry-After": outage.retry_after()})
        outage.log_unavailable(context["request"], response, exc)
        return response
    if isinstance(exc, DomainError):  # an app's refusal: its own code, status and fields
        return error_response(exc.code, exc.message, exc.http_status, **exc.api_fields())
    if isinstance(exc, DjangoPermissionDenied):  # WarehousePermissionDenied from the services
        return error_response("permission_denied", str(exc) or "You may not do this.", 403)
    if isinstance(exc, Http404):
        return error_response("not_found", "Not found.", 404)
    if isinstance(exc, RequestDataTooBig):  # Django's own limit, met when DRF reads the body
        return body_too_large()
    if isinstance(exc, DataError):  # PostgreSQL refused a value (out of range): the input's fault
        return error_response("out_of_range", "A value is out of range.", 400)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return error_response("validation_error", " ".join(exc.messages), 400, fields=fields)
    if isinstance(exc, ApiError):
        return error_response(exc.code, str(exc.detail), exc.status_code, **exc.extra)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return error_response("validation_error", "Invalid input: see fields.", 400, fields=fields)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = f"{exc.wait:.0f}"
        code = exc.detail.code if isinstance(exc.detail, exceptions.ErrorDetail) else exc.default_code
        return error_response(str(code), str(exc.detail), exc.status_code, headers=headers)
    return None


ERROR_CODES = {
    "400": (
        "validation_error (with fields), invalid_characters (with fields), nesting_too_deep, unknown_sku, "
        "unknown_location, unknown_warehouse, invalid_movement, ..."
    ),
    "401": "not_authenticated, authentication_failed, token_expired, locked_out",
    "403": "permission_denied",
    "404": "not_found",
    "409": "insufficient_stock (with sku and available), already_reversed",
    "413": "body_too_large (the body is over DATA_UPLOAD_MAX_MEMORY_SIZE)",
    "415": "unsupported_media_type",
    "422": "idempotency_key_reused",
    "429": "throttled (with a Retry-After header): too many requests, or too many invalid tokens from an address",
    "503": "database_unavailable (with a Retry-After header): the database cannot be reached just now; retry",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error: a machine-readable code, a sentence for people, and details by code.",
    "properties": {
        "code": {"type": "string", "example": "insufficient_stock"},
        "detail": {"type": "string"},
        "fields": {
            "type": "object",
            "additionalProperties": {},
            "description": "validation_error: the refused fields and why.",
        },
        "sku": {"type": "string", "description": "insufficient_stock, unknown_sku"},
        "available": {"type": "string", "format": "decimal", "description": "insufficient_stock"},
        "asked": {"type": "string", "format": "decimal", "description": "insufficient_stock"},
        "warehouse": {"type": "string", "nullable": True, "description": "insufficient_stock, unknown_warehouse"},
        "location": {"type": "string", "nullable": True, "description": "insufficient_stock, unknown_location"},
        "lot": {"type": "string", "nullable": True, "description": "insufficient_stock"},
        "line": {"type": "integer", "description": "Index of the refused line in ``lines``."},
    },
    "required": ["code", "detail"],
    "additionalProperties": True,
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def postprocess_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular hook: the ``Error`` component and the error statuses of every operation
    (400/401/403/404/429/503; writes also 409/413/415/422), so clients and the fuzzer know every answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = ["400", "401", "403", "404", "429", "503"]
            if method in WRITE_METHODS:
                statuses += ["409", "413", "415", "422"]
            for status in statuses:
                operation["responses"].setdefault(
                    status,
                    {
                        "description": ERROR_CODES[status],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result

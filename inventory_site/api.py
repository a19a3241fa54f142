"""Shared plumbing of the REST API (``/api/v1/``, docs/api.md): permissions, pagination, errors,
idempotency and the URL map. The resources live in ``catalog/api.py`` and ``stock/api.py``.

- ``ModelPermissions``: Django model permissions of the role, reading included (GET needs
  ``view``); a view names other permissions per action in ``required_permissions``. The warehouse
  scope is applied by the services (writes) and by each view's queryset (reads).
- ``exception_handler``: every error is ``{"code": ..., "detail": ..., ...}`` with a
  machine-readable code and the fitting status (409 for insufficient stock).
- ``idempotent``: an ``Idempotency-Key`` header makes a write answer every retry with the first
  response, writing nothing new, also when the retries race.

This module imports no resource at import time (``catalog.api`` and ``stock.api`` import it);
``api_urls()`` imports them when the URL map is built. Nor does it import ``rest_framework.views``
at import time: that module reads ``DEFAULT_PERMISSION_CLASSES``, which names a class defined here.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, IntegrityError, transaction
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.hygiene import first_text_problem
from catalog.models import Location, Warehouse
from catalog.numbers import NumberError, parse_decimal
from stock.models import QTY_STEP, IdempotentRequest
from stock.services import AlreadyReversed, InsufficientStock, StockError

# --- Permissions ----------------------------------------------------------------------------------


class ModelPermissions(DjangoModelPermissions):
    """The role's model permissions: ``view`` to read, ``add``/``change``/``delete`` to write (of
    the view's queryset model). ``view.required_permissions`` maps an action name (viewsets) or
    an HTTP method to the permissions it needs instead, for actions that are not plain CRUD
    (reversing a movement, consuming a reservation) and for views without a queryset."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        required: dict[str, list[str]] = getattr(view, "required_permissions", {})
        action = getattr(view, "action", None)
        if action in required:
            return request.user.has_perms(required[action])
        if request.method in required:
            return request.user.has_perms(required[request.method])
        if getattr(view, "_ignore_model_permissions", False):  # the router's API root
            return True
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return request.method == "OPTIONS"
        return super().has_permission(request, view)


class DocsAccess(BasePermission):
    """The schema and the docs pages: public only with ``API_DOCS_PUBLIC`` (default false: a
    production API does not hand its map to strangers); otherwise any signed-in user (a token or
    a session; no role needed: the map says nothing about anyone's data)."""

    message = "Sign in to read the API schema and docs (/api/v1/auth/login/), or send a token."

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)


# --- Pagination -----------------------------------------------------------------------------------


class Pagination(PageNumberPagination):
    """``?page=N`` (from 1) and ``?page_size=N`` (default 50, at most 500)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


# --- Fields ---------------------------------------------------------------------------------------

DECIMAL_PATTERN = r"^-?\d{0,14}(?:\.\d{0,4})?$"


@extend_schema_field(
    {"oneOf": [{"type": "number"}, {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}]}
)
class QuantityField(serializers.DecimalField):
    """A quantity or an amount in a request: a JSON number or a decimal string ("2", "2.5"), at
    most 14 digits before the point and 4 after it. Responses always carry decimal strings."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 18)
        kwargs.setdefault("decimal_places", 4)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        """Strings are read by the one rule of every door (``catalog.numbers``), in its canonical
        form (a dot as the decimal mark, as ``DECIMAL_PATTERN`` says): ``"1_000"``, ``"1,000"``
        and ``"1e3"`` are refused with a message, never read as a number."""
        if isinstance(data, str):
            try:
                parse_decimal(data, places=self.decimal_places, decimal_comma=False)
            except NumberError as exc:
                raise serializers.ValidationError(str(exc), code="invalid") from exc
        return super().to_internal_value(data)


def decimal_string(value: Decimal) -> str:
    """A quantity as responses show it: a string with 4 decimal places."""
    return str(value.quantize(QTY_STEP))


# --- Errors ---------------------------------------------------------------------------------------


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


class UnknownSku(ApiError):
    default_code = "unknown_sku"


class UnknownWarehouse(ApiError):
    default_code = "unknown_warehouse"


class UnknownLocation(ApiError):
    default_code = "unknown_location"


STOCK_ERROR_STATUS = {InsufficientStock: 409, AlreadyReversed: 409}


def _error(code: str, detail: str, status: int, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    from rest_framework.views import set_rollback  # not at import: rest_framework.views reads these settings

    set_rollback()
    return Response({"code": code, "detail": detail, **extra}, status=status, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every refusal as ``{"code", "detail", ...}``; None (a 500) only for a real bug."""
    if isinstance(exc, InsufficientStock):
        where = exc.location  # a Location, a Warehouse (FEFO over it) or None
        warehouse = where if isinstance(where, Warehouse) else getattr(where, "warehouse", None)
        return _error(
            exc.code,
            exc.message,
            409,
            sku=exc.item.sku,
            available=decimal_string(exc.available),
            asked=decimal_string(exc.asked),
            warehouse=warehouse.code if warehouse is not None else None,
            location=str(where) if isinstance(where, Location) else None,
            lot=exc.lot.code if exc.lot is not None else None,
        )
    if isinstance(exc, StockError):
        return _error(exc.code, exc.message, STOCK_ERROR_STATUS.get(type(exc), 400))
    if isinstance(exc, DjangoPermissionDenied):  # WarehousePermissionDenied from the services
        return _error("permission_denied", str(exc) or "You may not do this.", 403)
    if isinstance(exc, Http404):
        return _error("not_found", "Not found.", 404)
    if isinstance(exc, RequestDataTooBig):  # Django's own limit, met when DRF reads the body
        return _body_too_large()
    if isinstance(exc, DataError):  # PostgreSQL refused a value (out of range): the input's fault
        return _error("out_of_range", "A value is out of range.", 400)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return _error("validation_error", " ".join(exc.messages), 400, fields=fields)
    if isinstance(exc, ApiError):
        return _error(exc.code, str(exc.detail), exc.status_code, **exc.extra)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _error("validation_error", "Invalid input: see fields.", 400, fields=fields)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = f"{exc.wait:.0f}"
        code = exc.detail.code if isinstance(exc.detail, exceptions.ErrorDetail) else exc.default_code
        return _error(str(code), str(exc.detail), exc.status_code, headers=headers)
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
    (400/401/403/404/429; writes also 409/415/422), so clients and the fuzzer know every answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = ["400", "401", "403", "404", "429"]
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


# --- Parsing ----------------------------------------------------------------------------------------

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def _body_too_large() -> Response:
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _error(
        "body_too_large",
        f"The request body is larger than {limit} bytes: send fewer lines per request.",
        413,
        limit=limit,
    )


def json_depth(body: bytes) -> int:
    """How deeply ``body`` (JSON text) nests arrays and objects; brackets inside strings do not
    count. Linear, in C-speed steps whatever the body holds (a regular expression for strings
    went quadratic on an unclosed string full of escaped quotes): take out escaped backslashes,
    then escaped quotes, so the remaining quotes delimit the strings; keep the brackets outside
    them; the deepest point is the largest running sum of +1 (opening) and -1 (closing)."""
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[0::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


class HygienicJSONParser(JSONParser):
    """DRF's JSON parser behind the input-hygiene rule (``catalog.hygiene``), so that no body
    answers 500 and every string a view sees is text a column can hold:

    - nesting deeper than ``max_depth`` arrays/objects: 400 ``nesting_too_deep`` (checked on the
      raw bytes before parsing: the standard parser would recurse until it fails);
    - a NUL character or a lone UTF-16 surrogate in any string, keys included: 400
      ``invalid_characters`` with ``fields`` naming where (``lines.0.kind``);
    - a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: Django refuses it before the parser runs, and
      ``exception_handler`` answers 413 ``body_too_large``."""

    max_depth = 32

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        body = stream.read()
        if json_depth(body) > self.max_depth:
            raise self._too_deep()
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as exc:  # a body in an encoding the byte scan cannot read
            raise self._too_deep() from exc
        found = first_text_problem(data)
        if found is not None:
            where, problem = found[0][:200], found[1]  # a path of hostile long keys stays short
            raise ApiError(f"{where} {problem}.", code="invalid_characters", fields={where: [f"This field {problem}."]})
        return data

    def _too_deep(self) -> ApiError:
        return ApiError(
            f"The JSON body nests arrays and objects more than {self.max_depth} levels deep: "
            "no request of this API needs that many.",
            code="nesting_too_deep",
            max_depth=self.max_depth,
        )


# --- Idempotency ----------------------------------------------------------------------------------

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 100
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX, "pattern": "^[!-~]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID), 1 to 100 visible ASCII characters. A retry with the same key gets the "
        "first response and writes nothing new; keys are per user. The same key with another request: 422."
    ),
)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not (1 <= len(key) <= IDEMPOTENCY_KEY_MAX) or not all("!" <= ch <= "~" for ch in key):
        raise ApiError(
            "Invalid Idempotency-Key.",
            code="validation_error",
            fields={IDEMPOTENCY_HEADER: [f"1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters (a UUID)."]},
        )
    return key


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotentRequest, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise ApiError(
            "This Idempotency-Key was used for another request; use a new key for a new request.",
            code="idempotency_key_reused",
            status=422,
        )
    if record.status_code is None:  # cannot happen: the row commits with the answer
        raise ApiError("The first request with this key is still running.", code="idempotency_in_progress", status=409)
    return Response(json.loads(record.response), status=record.status_code, headers={"Idempotent-Replayed": "true"})


def idempotent(request: Request, write: Callable[[str | None], Response]) -> Response:
    """Run ``write(service_key)`` once per ``Idempotency-Key`` of this user.

    Without the header, just ``write(None)``. With it, in one transaction, a row claiming the
    key is inserted first, then ``write`` posts (the services get ``service_key``, the key
    prefixed with ``api:`` and the user id, so the ledger rows name it too) and its 2xx answer is
    stored in the row before the commit. If the key is taken, the insert fails (a concurrent
    retry first blocks on the unique key until the first request commits) and the stored answer
    is replayed (422 if the request differs). An error rolls everything back, the claim
    included: nothing was written, so a retry with the key runs again. The common case, a new
    key, costs one insert and one update."""
    client_key = _idempotency_key(request)
    if client_key is None:
        return write(None)
    key = f"{request.user.pk}:{client_key}"
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            record = IdempotentRequest.objects.create(
                key=key, user=request.user, method=request.method, path=request.path[:500], fingerprint=fingerprint
            )
            response = write(f"api:{key}")
            if 200 <= response.status_code < 300:
                record.status_code = response.status_code
                record.response = json.dumps(response.data, cls=DjangoJSONEncoder)
                record.save(update_fields=["status_code", "response"])
            return response
    except IntegrityError:
        record = IdempotentRequest.objects.filter(key=key).first()
        if record is None:
            raise
        return _replay(record, fingerprint)


def idempotent_requests_purge(*, before: datetime, chunk: int = 10_000) -> int:
    """Delete the stored answers of keyed requests made before ``before``, ``chunk`` rows per
    statement (short locks on a large backlog); returns how many. A retry of a purged key runs
    again, and the services' own idempotency (the ledger rows carry the key) still refuses to
    post it twice."""
    deleted = 0
    while True:
        ids = list(IdempotentRequest.objects.filter(created_at__lt=before).values_list("pk", flat=True)[:chunk])
        if not ids:
            return deleted
        deleted += IdempotentRequest.objects.filter(pk__in=ids).delete()[0]


# --- URLs -----------------------------------------------------------------------------------------


def api_urls() -> list:
    """The URL patterns of ``/api/v1/`` (included by ``inventory_site.urls``): the resources, the
    OpenAPI schema (``schema/``), Swagger UI (``docs/``), Redoc (``redoc/``) and the browsable
    API's login (``auth/``). URL names start with ``api-``."""
    from django.urls import include, path, re_path
    from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
    from rest_framework.routers import DefaultRouter

    from catalog import api as catalog_api
    from purchasing import api as purchasing_api
    from stock import api as stock_api

    router = DefaultRouter()
    router.register("items", catalog_api.ItemViewSet, basename="api-item")
    router.register("categories", catalog_api.CategoryViewSet, basename="api-category")
    router.register("warehouses", catalog_api.WarehouseViewSet, basename="api-warehouse")
    router.register("locations", catalog_api.LocationViewSet, basename="api-location")
    router.register("lots", stock_api.LotViewSet, basename="api-lot")
    router.register("stock-levels", stock_api.StockLevelViewSet, basename="api-stock-level")
    router.register("movements", stock_api.MovementViewSet, basename="api-movement")
    router.register("reservations", stock_api.ReservationViewSet, basename="api-reservation")
    router.register("suppliers", purchasing_api.SupplierViewSet, basename="api-supplier")
    router.register("purchase-orders", purchasing_api.PurchaseOrderViewSet, basename="api-purchase-order")
    docs = {"permission_classes": [DocsAccess]}
    return [
        path("schema/", SpectacularAPIView.as_view(**docs), name="api-schema"),
        path("docs/", docs_page(SpectacularSwaggerView.as_view(url_name="api-schema", **docs)), name="api-docs"),
        path("redoc/", docs_page(SpectacularRedocView.as_view(url_name="api-schema", **docs)), name="api-redoc"),
        path("auth/", include("rest_framework.urls")),
        path("sales/", stock_api.SaleApi.as_view(), name="api-sale"),
        path("returns/", stock_api.CustomerReturnApi.as_view(), name="api-return"),
        path("reorder-suggestions/", purchasing_api.ReorderSuggestionApi.as_view(), name="api-reorder-suggestions"),
        path("", include(router.urls)),
        # Anything else below /api/v1/ (ending in a slash; without one, APPEND_SLASH redirects first)
        # is a JSON 404 like every other error, not Django's HTML page.
        re_path(r"^.*/$", not_found),
    ]


def docs_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """A docs page (HTML, for people) sends a stranger to the API's login page and back, where
    ``DocsAccess`` alone would answer a bare 401 (the schema itself answers 401 in JSON)."""

    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not settings.API_DOCS_PUBLIC and not request.user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login
            from django.urls import reverse

            return redirect_to_login(request.get_full_path(), reverse("rest_framework:login"))
        return view(request, *args, **kwargs)

    return page


@csrf_exempt  # it changes nothing; a POST to an unknown URL is a 404, not a CSRF failure
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)

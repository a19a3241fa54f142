"""Idempotent API writes: an ``Idempotency-Key`` header makes a write answer every retry with
the first response, writing nothing new, also when the retries race (docs/api.md).

The store is ``common.models.IdempotentRequest`` (``common`` owns the model, so this module
imports no app).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from common.api.errors import ApiError
from common.db import fetch_rows
from common.models import IdempotentRequest

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


def _replay(record: IdempotentRequest | None, fingerprint: str) -> Response:
    """The stored answer for a retry (``record`` is None only if the purge job deleted the row
    between the conflict and the read: the retry may then simply be sent again)."""
    if record is not None and record.fingerprint != fingerprint:
        raise ApiError(
            "This Idempotency-Key was used for another request; use a new key for a new request.",
            code="idempotency_key_reused",
            status=422,
        )
    if record is None or record.status_code is None:  # the row commits with the answer
        raise ApiError("The first request with this key is still running.", code="idempotency_in_progress", status=409)
    return Response(json.loads(record.response), status=record.status_code, headers={"Idempotent-Replayed": "true"})


def _claim(key: str, request: Request, fingerprint: str) -> int | None:
    """Insert the row claiming ``key``: its id, or None when the key is taken. One statement,
    ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id``: a retry racing an uncommitted
    first request waits on the unique key until that one commits (then None: replay its
    answer) or rolls back (then this one claims the key)."""
    meta = IdempotentRequest._meta
    values = [key, request.user.pk, request.method, request.path[:500], fingerprint, ""]
    values.append(meta.get_field("created_at").get_db_prep_save(timezone.now(), connection))
    rows = fetch_rows(_statements(connection.vendor)[0], values)
    return rows[0][0] if rows else None


def _store(claimed: int, response: Response) -> None:
    """Keep the answer in the claimed row (one UPDATE by primary key)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _statements(connection.vendor)[1],
            [response.status_code, json.dumps(response.data, cls=DjangoJSONEncoder), claimed],
        )


@functools.cache
def _statements(vendor: str) -> tuple[str, str]:
    """The claim's INSERT and the answer's UPDATE (names from ``_meta``), built once per vendor."""
    quote, meta = connection.ops.quote_name, IdempotentRequest._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in _CLAIM_FIELDS)
    claim = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(_CLAIM_FIELDS))}) "  # noqa: S608 - names from _meta
        f"ON CONFLICT ({quote(meta.get_field('key').column)}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    store = (
        f"UPDATE {quote(meta.db_table)} SET {quote(meta.get_field('status_code').column)} = %s, "  # noqa: S608 - names from _meta
        f"{quote(meta.get_field('response').column)} = %s WHERE {quote(meta.pk.column)} = %s"
    )
    return claim, store


_CLAIM_FIELDS = ("key", "user", "method", "path", "fingerprint", "response", "created_at")


def idempotent(request: Request, write: Callable[[str | None], Response]) -> Response:
    """Run ``write(service_key)`` once per ``Idempotency-Key`` of this user.

    Without the header, just ``write(None)``. With it, in one transaction, a row claiming the
    key is inserted first (``_claim``), then ``write`` posts (the services get ``service_key``,
    the key prefixed with ``api:`` and the user id, so the ledger rows name it too) and its 2xx
    answer is stored in the row before the commit. If the key is taken (a concurrent retry first
    waits on the unique key until the first request commits), nothing is written and the stored
    answer is replayed (422 if the request differs). An error rolls everything back, the claim
    included: nothing was written, so a retry with the key runs again. ``write`` is given a key
    only once this transaction has claimed it, so the services may skip their own look-up of
    earlier postings under it (``stock_post_batch(fresh_key=True)``). The common case, a new
    key, costs two statements: the claim and the update storing the answer."""
    client_key = _idempotency_key(request)
    if client_key is None:
        return write(None)
    key = f"{request.user.pk}:{client_key}"
    fingerprint = _fingerprint(request)
    with transaction.atomic():
        claimed = _claim(key, request, fingerprint)
        if claimed is None:
            return _replay(IdempotentRequest.objects.filter(key=key).first(), fingerprint)
        response = write(f"api:{key}")
        if 200 <= response.status_code < 300:
            _store(claimed, response)
        return response

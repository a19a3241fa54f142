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

from common import outage
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
    if record is None or record.status_code is None:  # rows of older releases: claimed before the answer
        raise ApiError("The first request with this key is still running.", code="idempotency_in_progress", status=409)
    return Response(json.loads(record.response), status=record.status_code, headers={"Idempotent-Replayed": "true"})


def _stored(key: str) -> IdempotentRequest | None:
    return IdempotentRequest.objects.filter(key=key).first()


def _claim(key: str, request: Request, fingerprint: str, response: Response) -> bool:
    """Insert the row that keeps ``response`` under ``key``: True, or False when the key is
    taken. One statement, ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id``: when a
    racing request with the key has inserted its row and not yet committed, this one waits on
    the unique key until that one commits (False: replay its answer) or rolls back (True)."""
    meta = IdempotentRequest._meta
    answer = json.dumps(response.data, cls=DjangoJSONEncoder)
    values = [key, request.user.pk, request.method, request.path[:500], fingerprint, response.status_code, answer]
    values.append(meta.get_field("created_at").get_db_prep_save(timezone.now(), connection))
    return bool(fetch_rows(_claim_statement(connection.vendor), values))


@functools.cache
def _claim_statement(vendor: str) -> str:
    """The claim's INSERT (names from ``_meta``), built once per database vendor."""
    quote, meta = connection.ops.quote_name, IdempotentRequest._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in _CLAIM_FIELDS)
    return (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(_CLAIM_FIELDS))}) "  # noqa: S608 - names from _meta
        f"ON CONFLICT ({quote(meta.get_field('key').column)}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )


_CLAIM_FIELDS = ("key", "user", "method", "path", "fingerprint", "status_code", "response", "created_at")


class _KeyTaken(Exception):
    """Raised inside the write's transaction to roll it back: another request kept its answer
    under the key first."""


def idempotent(request: Request, write: Callable[[str | None], Response]) -> Response:
    """Run ``write(service_key)`` once per ``Idempotency-Key`` of this user.

    Without the header, just ``write(None)``. With it, in one transaction, ``write`` posts (the
    services get ``service_key``, the key prefixed with ``api:`` and the user id, so the ledger
    rows name it too) and its 2xx answer is inserted under the key as the transaction's last
    statement (``_claim``). If the key is taken, by an earlier request or by a racing one (this
    request then waits on the unique key until that one commits), the transaction rolls back,
    so nothing new is written, and the stored answer is replayed (422 if the request differs).
    If ``write`` fails, everything rolls back: when the key holds an answer (the failure came
    from repeating a request that succeeded, such as stock it already took), that answer is
    replayed; otherwise the error stands and the key stays free, so a retry runs again.

    The common case, a new key, costs one statement (the answer's INSERT). The services may skip
    their own look-up of earlier postings under ``service_key`` (``stock_post_batch(fresh_key=
    True)``): a repeated posting is either answered by the ledger's unique key or rolled back
    here when the claim finds the key taken."""
    client_key = _idempotency_key(request)
    if client_key is None:
        return write(None)
    key = f"{request.user.pk}:{client_key}"
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            response = write(f"api:{key}")
            if 200 <= response.status_code < 300 and not _claim(key, request, fingerprint, response):
                raise _KeyTaken
            return response
    except _KeyTaken:
        return _replay(_stored(key), fingerprint)
    except Exception as exc:
        if outage.database_unavailable(exc) or (record := _stored(key)) is None:
            raise
        return _replay(record, fingerprint)

"""The API's JSON parser behind the input-hygiene rule (docs/security.md)."""

from __future__ import annotations

import io
from itertools import accumulate
from typing import Any

from rest_framework.parsers import JSONParser

from common.api.errors import ApiError
from common.hygiene import first_text_problem

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


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
    """DRF's JSON parser behind the input-hygiene rule (``common.hygiene``), so that no body
    answers 500 and every string a view sees is text a column can hold:

    - nesting deeper than ``max_depth`` arrays/objects: 400 ``nesting_too_deep`` (checked on the
      raw bytes before parsing: the standard parser would recurse until it fails);
    - a NUL character or a lone UTF-16 surrogate in any string, keys included: 400
      ``invalid_characters`` with ``fields`` naming where (``lines.0.kind``);
    - a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: Django refuses it before the parser runs, and
      ``common.api.errors.exception_handler`` answers 413 ``body_too_large``."""

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

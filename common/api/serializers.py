"""Serializer plumbing of the API's hot input paths."""

from __future__ import annotations

import threading
from typing import Any

from django.utils.functional import cached_property
from rest_framework import serializers

_PREBUILT = threading.local()


class PrebuiltFieldsSerializer(serializers.Serializer):
    """An input serializer whose fields are built (deep-copied from the declared ones) once per
    class and thread instead of once per instance: DRF deep-copies every declared field, nested
    serializers included, for each request (about 0.3 ms of a sale; docs/api.md).

    Invariants that make sharing safe: the fields are never changed after construction (no
    ``fields[...] =``, no ``pop``: subclasses must not), a thread handles one request at a time
    and a request validates with one instance of the class at a time. Each new instance takes
    the fields over (``parent`` is set to it, so ``root``, ``context`` and ``partial`` are its
    own), and errors and validated data live on the instance, never on the fields. Another
    thread builds its own."""

    @cached_property
    def fields(self) -> Any:
        built: dict[type, Any] = _PREBUILT.__dict__.setdefault("fields", {})
        fields = built.get(type(self))
        if fields is None:
            fields = built[type(self)] = super().fields
        else:
            for field in fields.values():
                field.parent = self
        return fields

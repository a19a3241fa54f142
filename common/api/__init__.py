"""The REST API's shared pieces (docs/api.md), used by every app's ``api.py``; no app here.

- ``fields``: ``QuantityField`` (requests) and ``decimal_string`` (responses);
- ``errors``: ``ApiError``, the error handler (every refusal as ``{"code", "detail", ...}``;
  an app's ``common.errors.DomainError`` names its own code and status) and the schema hook;
- ``pagination``, ``permissions`` (``ModelPermissions``, ``DocsAccess``), ``parsers`` (the
  hygienic JSON parser), ``idempotency`` (``idempotent``), ``auth`` (token authentication and
  throttles), ``pages`` (the docs pages' login and the JSON 404).

Settings name these classes (``REST_FRAMEWORK``); the URL map and the router that registers each
app's viewsets are wiring, in ``inventory_site.api``.
"""

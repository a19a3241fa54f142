"""REST API of the ledger (docs/api.md): lots, stock levels, movements (list, post, bulk post,
reverse), reservations (create, release, consume), sales and customer returns.

Every view validates its input with a nested ``InputSerializer``, names items, warehouses and
locations through ``catalog.api``'s look-ups, calls one service of ``stock.services`` with
``actor=request.user`` (the services check the role and warehouse permissions) and answers with a
nested ``OutputSerializer``. Writes run through ``common.api.idempotency.idempotent`` (the
``Idempotency-Key`` header). Lists are scoped to the warehouses where the user may view stock;
another warehouse's object by id is a 404.

A sale, a return or a bulk movement request is ONE posting (``stock_post_batch``, one
``movement_post``): all of its lines or none.

One module a topic: ``common`` (fields, bounds, the lot filter), ``levels`` (lots, stock
levels), ``movements``, ``reservations``, ``documents`` (sales, returns); the names other apps
and the URL wiring use are re-exported here.
"""

from .common import MAX_LINES, POSITIVE, LedgerFilterSet, UnknownLot, quantity_field, unit_cost_field
from .documents import CustomerReturnApi, PostingOutputSerializer, SaleApi
from .levels import LotViewSet, StockLevelViewSet
from .movements import REQUESTABLE_KIND_CHOICES, MovementOutputSerializer, MovementViewSet
from .reservations import ReservationViewSet

__all__ = [
    "MAX_LINES",
    "POSITIVE",
    "REQUESTABLE_KIND_CHOICES",
    "CustomerReturnApi",
    "LedgerFilterSet",
    "LotViewSet",
    "MovementOutputSerializer",
    "MovementViewSet",
    "PostingOutputSerializer",
    "ReservationViewSet",
    "SaleApi",
    "StockLevelViewSet",
    "UnknownLot",
    "quantity_field",
    "unit_cost_field",
]

"""The URL map of the REST API (``/api/v1/``, docs/api.md): the router registering each app's
viewsets, the schema and the docs pages. Wiring only: the shared pieces (fields, errors,
pagination, permissions, idempotency, parser, authentication) live in ``common.api``, which
imports no app; the resources live in each app's ``api.py``.
"""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from catalog import api as catalog_api
from common.api.pages import docs_page, not_found
from common.api.permissions import DocsAccess
from counting import api as counting_api
from purchasing import api as purchasing_api
from purchasing import transfer_api
from reports import api as reports_api
from stock import api as stock_api
from stock import api_values as stock_api_values


def api_urls() -> list:
    """The URL patterns of ``/api/v1/`` (included by ``inventory_site.urls``): the resources, the
    OpenAPI schema (``schema/``), Swagger UI (``docs/``), Redoc (``redoc/``) and the browsable
    API's login (``auth/``). URL names start with ``api-``."""
    router = DefaultRouter()
    router.register("items", catalog_api.ItemViewSet, basename="api-item")
    router.register("categories", catalog_api.CategoryViewSet, basename="api-category")
    router.register("warehouses", catalog_api.WarehouseViewSet, basename="api-warehouse")
    router.register("locations", catalog_api.LocationViewSet, basename="api-location")
    router.register("lots", stock_api.LotViewSet, basename="api-lot")
    router.register("stock-levels", stock_api.StockLevelViewSet, basename="api-stock-level")
    router.register("movements", stock_api.MovementViewSet, basename="api-movement")
    router.register("reservations", stock_api.ReservationViewSet, basename="api-reservation")
    router.register("value-entries", stock_api_values.ValueEntryViewSet, basename="api-value-entry")
    router.register("suppliers", purchasing_api.SupplierViewSet, basename="api-supplier")
    router.register("purchase-orders", purchasing_api.PurchaseOrderViewSet, basename="api-purchase-order")
    router.register("counts", counting_api.CountViewSet, basename="api-count")
    docs = {"permission_classes": [DocsAccess]}
    return [
        path("schema/", SpectacularAPIView.as_view(**docs), name="api-schema"),
        path("docs/", docs_page(SpectacularSwaggerView.as_view(url_name="api-schema", **docs)), name="api-docs"),
        path("redoc/", docs_page(SpectacularRedocView.as_view(url_name="api-schema", **docs)), name="api-redoc"),
        path("auth/", include("rest_framework.urls")),
        path("sales/", stock_api.SaleApi.as_view(), name="api-sale"),
        path("returns/", stock_api.CustomerReturnApi.as_view(), name="api-return"),
        path("reorder-suggestions/", purchasing_api.ReorderSuggestionApi.as_view(), name="api-reorder-suggestions"),
        path("transfers/", transfer_api.TransferApi.as_view(), name="api-transfers"),
        path("transfers/<int:pk>/arrive/", transfer_api.TransferArriveApi.as_view(), name="api-transfer-arrive"),
        path("reports/", reports_api.ReportListApi.as_view(), name="api-reports"),
        path("reports/<slug:name>/", reports_api.ReportApi.as_view(), name="api-report"),
        path("", include(router.urls)),
        # Anything else below /api/v1/ (ending in a slash; without one, APPEND_SLASH redirects first)
        # is a JSON 404 like every other error, not Django's HTML page.
        re_path(r"^[\s\S]*/$", not_found),  # [\s\S]: a newline in the path too
    ]

"""``GET /api/v1/reports/`` (the list) and ``GET /api/v1/reports/<name>/`` (docs/reports.md).

Filters are query parameters (``warehouse``, ``category``, ``sku``, ``date_from``/``date_to`` or
``as_of``, and the report's own such as ``days``). JSON is ``{"count", "next", "previous",
"results": [rows], "totals": {...}}`` paginated like every list (``page``, ``page_size``);
``?format=csv`` or ``?format=xlsx`` answers the whole report as a file with the same rows.
Needs ``reports.view_report``; the rows are those of the warehouses where the user may view
stock. Errors follow the API's contract (a bad date: 400 ``validation_error`` naming it).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api.errors import ApiError
from common.api.pagination import Pagination

from .exports import CONTENT_TYPES, file_name, json_rows, json_value, report_file
from .framework import REPORT_PERMISSION, all_reports, get_report, require_report_access, run_report

NOT_FILTERS = ("format", "page", "page_size")


class _FileRenderer(BaseRenderer):
    """Lets ``?format=csv|xlsx`` through DRF's content negotiation; the view builds the file."""

    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> Any:
        return data if isinstance(data, bytes) else JSONRenderer().render(data)


class CsvRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


class XlsxRenderer(_FileRenderer):
    media_type = CONTENT_TYPES["xlsx"]
    format = "xlsx"


FILTERS = [
    OpenApiParameter("warehouse", str, description="Warehouse code (or id); default: every one you may view."),
    OpenApiParameter("category", str, description="Category id or full path (with its sub-categories)."),
    OpenApiParameter("sku", str, description="One item."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Period reports: first day (default: month start)."),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Period reports: last day (default: today)."),
    OpenApiParameter("as_of", str, description="Balance reports: YYYY-MM-DD (its end) or an ISO date-time."),
    OpenApiParameter("days", int, description="expiring: within N days (14); slow-moving: no issue for N days (30)."),
    OpenApiParameter(
        "format", str, enum=["json", "csv", "xlsx"], description="csv or xlsx: the whole report as a file."
    ),
]


class ReportListApi(APIView):
    """The reports there are, with their filters."""

    permission_classes = [IsAuthenticated]
    required_permissions = {"GET": [REPORT_PERMISSION]}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The reports there are", operation_id="reports_list")
    def get(self, request: Request) -> Response:
        require_report_access(request.user)
        return Response(
            {
                "results": [
                    {
                        "name": r.name,
                        "title": r.title,
                        "description": r.description,
                        "period": r.period,
                        "as_of": r.as_of,
                        "params": sorted(r.params),
                        "columns": [c.key for c in r.columns],
                    }
                    for r in all_reports()
                ]
            }
        )


class ReportApi(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer, CsvRenderer, XlsxRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        fmt = request.query_params.get("format")
        if not force and fmt not in (None, "json", *CONTENT_TYPES):  # force: answering an error in JSON
            raise ApiError(
                f"No format {fmt!r}: json, csv or xlsx.",
                code="validation_error",
                fields={"format": ["json, csv or xlsx."]},
            )
        return super().perform_content_negotiation(request, force)

    def handle_exception(self, exc: Exception) -> Response:
        """Errors are JSON (the error contract), also when a file was asked for."""
        response = super().handle_exception(exc)
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return response

    @extend_schema(
        parameters=FILTERS,
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY,
        },
        summary="One report: {count, next, previous, results, totals}, or a CSV/XLSX file",
        operation_id="reports_read",
    )
    def get(self, request: Request, name: str) -> Response | HttpResponse:
        report = get_report(name)
        if report is None:
            raise ApiError(f"No report named {name!r}.", code="not_found", status=404)
        params = {
            key: value for key, value in request.query_params.items() if key not in ("format", "page", "page_size")
        }
        result = run_report(report, request.user, params)
        fmt = request.query_params.get("format")
        if fmt in CONTENT_TYPES:
            response = HttpResponse(report_file(result, fmt), content_type=CONTENT_TYPES[fmt])
            response["Content-Disposition"] = f'attachment; filename="{file_name(result, fmt)}"'
            return response
        paginator = Pagination()
        page = paginator.paginate_queryset(result.rows, request, view=self)
        response = paginator.get_paginated_response(json_rows(result, page))
        response.data["totals"] = json_value(result.totals)
        return response

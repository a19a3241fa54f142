"""The reports in the admin: ``/admin/report/`` lists them, ``/admin/report/<name>/`` shows
one with its filters (the query string, read by the same ``run_report`` as the API), its totals
and its rows, and exports them (``?format=csv`` or ``?format=xlsx``). Read-only pages; a bad
filter is shown beside its field, never a 500."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from catalog.models import Category
from catalog.permissions import warehouses_for

from .exports import CONTENT_TYPES, file_name, report_file, text_value
from .framework import all_reports, get_report, require_report_access, run_report

SHOWN_ROWS = 1000  # the page shows this many; the files hold every row


@require_safe
def reports_index_view(request: HttpRequest) -> HttpResponse:
    require_report_access(request.user)
    context = {**admin.site.each_context(request), "title": "Reports", "reports": all_reports()}
    return TemplateResponse(request, "admin/reports/reports_index.html", context)


@require_safe
def report_view(request: HttpRequest, name: str) -> HttpResponse:
    report = get_report(name)
    if report is None:
        raise Http404(f"No report named {name!r}.")
    require_report_access(request.user)
    params = {key: value for key, value in request.GET.items() if key != "format"}
    result, errors = None, {}
    try:
        result = run_report(report, request.user, params)
    except ValidationError as error:
        errors = error.message_dict
    fmt = request.GET.get("format")
    if result is not None and fmt in CONTENT_TYPES:
        response = HttpResponse(report_file(result, fmt), content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{file_name(result, fmt)}"'
        return response
    columns = report.columns
    rows = result.rows[:SHOWN_ROWS] if result else []
    context = {
        **admin.site.each_context(request),
        "title": report.title,
        "report": report,
        "params": params,
        "errors": errors,
        "warehouses": warehouses_for(request.user).order_by("code"),
        "categories": Category.objects.order_by("path"),
        "own_params": [(key, spec, params.get(key, "")) for key, spec in report.params.items()],
        "columns": columns,
        "rows": [[(c.kind, text_value(row.get(c.key))) for c in columns] for row in rows],
        "row_count": len(result.rows) if result else 0,
        "shown_rows": SHOWN_ROWS,
        "totals": text_value(result.totals) if result else {},
        "period_values": _period_values(params, result),
    }
    return TemplateResponse(request, "admin/reports/report.html", context)


def _period_values(params: dict, result) -> dict[str, str]:  # noqa: ANN001 - a ReportResult or None
    """What the date fields show: what was typed, else the period the report used."""
    used = result.query if result else None
    return {
        key: params.get(key) or (str(getattr(used, key)) if used and getattr(used, key) else "")
        for key in ("date_from", "date_to")
    }


def dashboard_index(request: HttpRequest) -> HttpResponse:
    """The admin home: the managers' dashboard (``reports.dashboard``) above the list of models
    for users who may view reports; Django's plain index for everyone else."""
    from .dashboard import dashboard_context
    from .framework import REPORT_PERMISSION

    extra = dashboard_context(request.user) if request.user.has_perm(REPORT_PERMISSION) else {}
    return admin.site.index(request, extra_context=extra)

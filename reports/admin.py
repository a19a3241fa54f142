"""The reports' pages in the admin: the audit trail (``/admin/audit-trail/``, routed in
``inventory_site/urls.py`` through ``admin.site.admin_view``) and its box on the admin index.

The page is for staff with ``stock.view_movement`` (managers, auditors, administrators); what
it lists is scoped to the warehouses where the user may view stock (``reports.audit``). It
only reads: there is no form that writes, no action, no edit or delete link.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_safe

from catalog.models import Warehouse
from catalog.permissions import warehouses_for
from common.replica import on_replica, replica_reads

from .audit import KIND_CHOICES, AuditEntry, AuditFilters, audit_trail_entries, audit_trail_page
from .models import ReportSubscription

# The admin index shows an "Audit trail" box to those who may open it.
admin.site.index_template = "admin/reports/index.html"

AUDIT_PERMISSION = "stock.view_movement"
PER_PAGE = 100
MAX_PAGE = 500  # beyond 50,000 entries: narrow the filters or export CSV
CSV_HEADER = ["when", "user", "kind", "action", "object type", "object", "warehouse", "what", "changes"]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class AuditTrailForm(forms.Form):
    user = forms.CharField(required=False, help_text="Username")
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none(), required=False)
    sku = forms.CharField(label="SKU", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    kind = forms.ChoiceField(choices=[("", "Everything"), *KIND_CHOICES], required=False)

    def __init__(self, *args, user, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["warehouse"].queryset = warehouses_for(user)

    def clean_user(self) -> object:
        username = self.cleaned_data["user"].strip()
        if not username:
            return None
        user_model = get_user_model()
        found = user_model._default_manager.filter(**{f"{user_model.USERNAME_FIELD}__iexact": username}).first()
        if found is None:
            raise forms.ValidationError(f"No user named {username!r}.")
        return found

    def clean(self) -> dict:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            user=data["user"],
            warehouse=data["warehouse"],
            sku=data["sku"].strip(),
            date_from=data["date_from"],
            date_to=data["date_to"],
            kind=data["kind"],
        )


def csv_safe(value: str) -> str:
    """The cell as text a spreadsheet shows and never evaluates."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


def _page_number(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), MAX_PAGE)
    except ValueError:
        return 1


@require_safe
def audit_trail_view(request: HttpRequest) -> HttpResponse:
    """The merged ledger and master-data history, filtered, paginated, or as CSV (``?format=csv``)."""
    if not request.user.has_perm(AUDIT_PERMISSION):
        raise PermissionDenied("The audit trail needs the permission to view movements.")
    form = AuditTrailForm(request.GET, user=request.user)
    valid = form.is_valid()
    if request.GET.get("format") == "csv":
        if not valid:
            return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain; charset=utf-8")
        # streamed after the view returns: each row is read on the replica as it is produced
        return _csv_response(on_replica(audit_trail_entries(user=request.user, filters=form.filters())))
    page = _page_number(request.GET.get("page"))
    entries, has_next = [], False
    if valid:
        with replica_reads():  # a report: read from the replica when there is one (common/replica.py)
            entries, has_next = audit_trail_page(
                user=request.user, filters=form.filters(), page=page, per_page=PER_PAGE
            )
    context = {
        **admin.site.each_context(request),
        "title": "Audit trail",
        "form": form,
        "entries": entries,
        "page": page,
        "next_page": page + 1 if has_next and page < MAX_PAGE else None,
        "previous_page": page - 1 if page > 1 else None,
    }
    return TemplateResponse(request, "admin/reports/audit_trail.html", context)


class _Echo:
    """A file-like object whose ``write`` returns what it is given (for streaming csv rows)."""

    def write(self, value: str) -> str:
        return value


def _csv_rows(entries: Iterator[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for entry in entries:
        changes = "; ".join(f"{c.field}: {c.old} → {c.new}" for c in entry.changes)
        cells = [
            timezone.localtime(entry.when).strftime("%Y-%m-%d %H:%M:%S"),  # local, as on the page
            entry.who,
            entry.kind_label,
            entry.action,
            entry.object_type,
            entry.object_label,
            entry.warehouse,
            entry.what,
            changes,
        ]
        yield writer.writerow([csv_safe(cell) for cell in cells])


def _csv_response(entries: Iterator[AuditEntry]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
    return response


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(admin.ModelAdmin):
    """Scheduled reports: each user sees and keeps only their own subscriptions (the report is
    mailed with what that user may see); an administrator with ``change`` rights on others'
    sees all."""

    list_display = ["report", "frequency", "filters", "active", "last_sent_at", "user"]
    list_filter = ["frequency", "active"]
    fields = ["report", "filters", "frequency", "active", "last_sent_at"]
    readonly_fields = ["last_sent_at"]

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def formfield_for_dbfield(self, db_field, request, **kwargs):  # noqa: ANN001, ANN003, ANN201
        if db_field.name == "report":
            from .framework import all_reports

            return forms.ChoiceField(choices=[(r.name, r.title) for r in all_reports()], label="Report")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: ReportSubscription, form, change: bool) -> None:  # noqa: ANN001
        if not change:
            obj.user = request.user
        super().save_model(request, obj, form, change)

    def _own(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reports.view_report")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own(request)

    def has_view_permission(self, request: HttpRequest, obj: ReportSubscription | None = None) -> bool:
        return self._own(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._own(request)

    def has_change_permission(self, request: HttpRequest, obj: ReportSubscription | None = None) -> bool:
        return self._own(request)

    def has_delete_permission(self, request: HttpRequest, obj: ReportSubscription | None = None) -> bool:
        return self._own(request)

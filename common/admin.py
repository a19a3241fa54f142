"""The admin of the shared store: job runs and the alerts they sent (read-only), and each
person's alert opt-outs (docs/operations.md, "Alerts")."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join

from common.alerts import alert_kinds
from common.models import AlertCondition, AlertOptOut, JobRun


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by code only (jobs, services): no add, change or delete in the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("job", "started_at", "finished_at", "status", "mails", "summary")
    list_filter = ("job", "status")
    date_hierarchy = "started_at"
    fields = ("job", "started_at", "finished_at", "status", "summary", "what_it_sent")

    @admin.display(description="mails")
    def mails(self, obj: JobRun) -> int:
        return len(obj.sent)

    @admin.display(description="what it sent")
    def what_it_sent(self, obj: JobRun) -> str:
        if not obj.sent:
            return "Nothing."
        return format_html_join(
            "",
            "<p><b>{}</b>: {}<br>{}</p>",
            ((m.get("to", ""), m.get("subject", ""), ", ".join(m.get("alerts", []))) for m in obj.sent),
        )


@admin.register(AlertCondition)
class AlertConditionAdmin(ReadOnlyAdmin):
    list_display = ("kind", "key", "recipient", "opened_at", "notified_at", "last_seen_at", "cleared_at")
    list_filter = ("kind", ("cleared_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "text", "recipient__username")


class AlertOptOutForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=())
    user = None  # the person signed in (AlertOptOutAdmin.get_form)

    class Meta:
        model = AlertOptOut
        fields = ("kind",)

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k.kind, k.title) for k in alert_kinds()]

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        if AlertOptOut.objects.filter(user=self.user, kind=kind).exists():
            raise forms.ValidationError("You already do not receive this kind of alert.")
        return kind


@admin.register(AlertOptOut)
class AlertOptOutAdmin(admin.ModelAdmin):
    """Every staff member manages their own opt-outs (nobody else's: not even an Administrator
    silences a colleague's alerts); the person is always the one signed in."""

    form = AlertOptOutForm
    list_display = ("kind_title",)

    @admin.display(description="kind of alert you do not receive")
    def kind_title(self, obj: AlertOptOut) -> str:
        return next((k.title for k in alert_kinds() if k.kind == obj.kind), obj.kind)

    def get_form(self, request: HttpRequest, obj: AlertOptOut | None = None, **kwargs):  # noqa: ANN003, ANN201
        return type("OwnAlertOptOutForm", (super().get_form(request, obj, **kwargs),), {"user": request.user})

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).filter(user=request.user)

    def _own(self, request: HttpRequest, obj: AlertOptOut | None = None) -> bool:
        return request.user.is_active and request.user.is_staff and (obj is None or obj.user_id == request.user.pk)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._own(request)

    def has_view_permission(self, request: HttpRequest, obj: AlertOptOut | None = None) -> bool:
        return self._own(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._own(request)

    def has_change_permission(self, request: HttpRequest, obj: AlertOptOut | None = None) -> bool:
        return False  # delete it and add another

    def has_delete_permission(self, request: HttpRequest, obj: AlertOptOut | None = None) -> bool:
        return self._own(request, obj)

    def save_model(self, request: HttpRequest, obj: AlertOptOut, form: forms.Form, change: bool) -> None:
        obj.user = request.user
        super().save_model(request, obj, form, change)

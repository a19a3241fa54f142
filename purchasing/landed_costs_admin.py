"""The admin page that allocates a landed cost to purchase orders (``PurchaseOrderAdmin``'s
action "Allocate a landed cost…" leads here): a form, then ``landed_cost_allocate``."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from stock.services import StockError

from .landed_costs import AllocationBasis, landed_cost_allocate, order_receipts


class LandedCostForm(forms.Form):
    amount = forms.DecimalField(max_digits=18, decimal_places=4, help_text="The cost to allocate (a credit: negative).")
    basis = forms.ChoiceField(choices=AllocationBasis.choices, initial=AllocationBasis.VALUE)
    reason_code = forms.CharField(max_length=40, help_text="freight, duty, insurance, ...")
    reference = forms.CharField(max_length=100, required=False, help_text="The invoice number.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_amount(self):  # noqa: ANN201 - Django signature
        if self.cleaned_data["amount"] == 0:
            raise forms.ValidationError("Enter a cost other than zero.")
        return self.cleaned_data["amount"]


def landed_cost_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Allocate one cost over the receipts of the orders named in ``?orders=1,2`` (only those
    the user may see in the admin); posting needs the rights the service checks."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    ids = [int(pk) for pk in request.GET.get("orders", "").split(",") if pk.isdigit()]
    orders: QuerySet = model_admin.get_queryset(request).filter(pk__in=ids).select_related("warehouse")
    form = LandedCostForm(request.POST if request.method == "POST" else None)
    key = request.POST.get("idempotency_key") or f"admin-landed-cost:{uuid.uuid4()}"
    if request.method == "POST" and form.is_valid():
        try:
            entries = landed_cost_allocate(
                orders=list(orders),
                actor=request.user,
                idempotency_key=key,
                **form.cleaned_data,
            )
        except (StockError, PermissionDenied) as exc:
            model_admin.message_user(request, f"Nothing was posted: {exc}", messages.ERROR)
        else:
            model_admin.message_user(request, f"Landed cost posted as {len(entries)} value entries.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:purchasing_purchaseorder_changelist"))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Allocate a landed cost",
        "opts": model_admin.model._meta,
        "orders": orders,
        "receipts": order_receipts(list(orders)),
        "form": form,
        "idempotency_key": key,
    }
    return TemplateResponse(request, "admin/purchasing/landed_cost.html", context)

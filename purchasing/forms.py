"""Forms of purchasing's pages: the editable reorder suggestion line, the return to the supplier."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from django import forms

from catalog.models import Location, LocationKind, LocationLevel
from catalog.units import QuantityFinerThanUnit, check_quantity
from common.numbers import DecimalNumberField

from .models import PurchaseOrder, PurchaseOrderLine, SupplierItem
from .selectors import Suggestion


class OfferChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: SupplierItem) -> str:
        return f"{obj.supplier.code} at {obj.unit_cost.normalize():f}"


class SuggestionLineForm(forms.Form):
    """One suggestion on the suggestions page: order it or not, how much, from which of the
    item's active offers. Only a chosen line is checked; every line's problems show at once."""

    pick = forms.BooleanField(required=False, label="order")
    quantity = DecimalNumberField(max_digits=18, decimal_places=4, required=False)
    offer = OfferChoiceField(queryset=SupplierItem.objects.none(), required=False, label="supplier")

    def __init__(self, data: dict | None = None, *, suggestion: Suggestion) -> None:
        initial = {"pick": suggestion.supplier_item is not None, "quantity": suggestion.quantity}
        initial["offer"] = suggestion.supplier_item
        super().__init__(data, prefix=f"policy-{suggestion.policy.pk}", initial=initial)
        self.suggestion = suggestion
        self.fields["offer"].queryset = SupplierItem.objects.filter(
            item=suggestion.item, supplier__active=True
        ).select_related("supplier")

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("pick"):
            return data
        item, quantity = self.suggestion.item, data.get("quantity")
        if quantity is None or quantity <= 0:
            self.add_error("quantity", f"Give a quantity of {item.sku} above zero, or leave the line unchosen.")
        else:
            try:
                check_quantity(item, quantity, field="quantity")
            except QuantityFinerThanUnit as refused:
                self.add_error("quantity", refused.problem.message)
        if data.get("offer") is None:
            self.add_error("offer", f"Choose who sells {item.sku} (none yet: add a supplier item first).")
        return data

    def edited(self) -> Suggestion | None:
        """The suggestion as edited, or None when it is not chosen (call after ``is_valid``)."""
        if not self.cleaned_data.get("pick"):
            return None
        return dataclasses.replace(
            self.suggestion, quantity=Decimal(self.cleaned_data["quantity"]), supplier_item=self.cleaned_data["offer"]
        )


class SupplierReturnForm(forms.Form):
    """What goes back to the supplier from a received order: which line, how much, from which
    bin of the order's warehouse, why (and the lot of a tracked item)."""

    line = forms.ModelChoiceField(queryset=PurchaseOrderLine.objects.none())
    quantity = DecimalNumberField(max_digits=18, decimal_places=4, min_value=Decimal("0.0001"))
    location = forms.ModelChoiceField(queryset=Location.objects.none(), label="from bin")
    reason_code = forms.CharField(max_length=40, help_text="damaged, wrong item, ...")
    lot = forms.CharField(max_length=64, required=False)

    def __init__(self, data: dict | None = None, *, order: PurchaseOrder) -> None:
        super().__init__(data)
        self.fields["line"].queryset = order.lines.filter(received_quantity__gt=0).select_related("item")
        self.fields["location"].queryset = Location.objects.filter(
            warehouse=order.warehouse, kind=LocationKind.INTERNAL, level=LocationLevel.BIN, active=True
        )

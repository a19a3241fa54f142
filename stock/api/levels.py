"""Lots and stock levels: read-only lists scoped to the warehouses the user may view."""

from __future__ import annotations

from django.db.models import DecimalField, F, QuerySet, Sum
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import mixins, serializers, viewsets

from catalog.api import NamingFilterSet
from catalog.models import LocationKind
from catalog.permissions import scope_to_warehouses

from ..models import (
    Lot,
    StockLevel,
)
from ..selectors import lots_visible
from .common import LedgerFilterSet

# --- Lots -----------------------------------------------------------------------------------------


class LotViewSet(viewsets.ReadOnlyModelViewSet):
    """Lots (batches) of lot-tracked items, with their expiry: only those of warehouses where
    the user may view stock (``stock.selectors.lots_visible``); another warehouse's lot is a 404."""

    @extend_schema_serializer(component_name="Lot")
    class OutputSerializer(serializers.ModelSerializer):
        sku = serializers.CharField(source="item.sku")

        class Meta:
            model = Lot
            fields = ["id", "item", "sku", "code", "expiry_date", "received_on"]

    class Filter(NamingFilterSet):
        sku = filters.CharFilter(field_name="item", method="filter_sku", help_text="SKU or barcode of the item.")
        code = filters.CharFilter(field_name="code")
        expires_before = filters.DateFilter(field_name="expiry_date", lookup_expr="lt")
        expires_after = filters.DateFilter(field_name="expiry_date", lookup_expr="gte")

        class Meta:
            model = Lot
            fields = ["item", "sku", "code", "expires_before", "expires_after"]

    serializer_class = OutputSerializer
    filterset_class = Filter
    queryset = Lot.objects.select_related("item").order_by("item__sku", F("expiry_date").asc(nulls_last=True), "code")

    def get_queryset(self) -> QuerySet[Lot]:
        return lots_visible(self.queryset, self.request.user)


# --- Stock levels ---------------------------------------------------------------------------------

GROUPINGS = {
    # group_by -> the columns a row is made of (besides item and warehouse)
    "": {"location_code": F("location__code"), "lot_code": F("lot__code"), "expiry_date": F("lot__expiry_date")},
    "location": {"location_code": F("location__code")},
    "lot": {"lot_code": F("lot__code"), "expiry_date": F("lot__expiry_date")},
    "warehouse": {},
}
_QTY = DecimalField(max_digits=20, decimal_places=4)


class StockLevelViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """On hand, reserved and available stock per item x location x lot, or summed per item x
    warehouse (``group_by=warehouse``), item x location (``group_by=location``) or item x
    warehouse x lot (``group_by=lot``). Internal locations of the user's warehouses only; empty
    rows are left out unless ``include_empty=true``."""

    @extend_schema_serializer(component_name="StockLevel")
    class OutputSerializer(serializers.Serializer):
        item = serializers.IntegerField(source="item_id")
        sku = serializers.CharField()
        warehouse = serializers.CharField()
        location = serializers.CharField(source="location_code", allow_null=True, required=False)
        lot = serializers.CharField(source="lot_code", allow_null=True, required=False)
        expiry_date = serializers.DateField(allow_null=True, required=False)
        on_hand = serializers.DecimalField(source="total_on_hand", max_digits=20, decimal_places=4)
        reserved = serializers.DecimalField(source="total_reserved", max_digits=20, decimal_places=4)
        available = serializers.DecimalField(source="total_available", max_digits=20, decimal_places=4)

    class Filter(LedgerFilterSet):
        sku = filters.CharFilter(field_name="item", method="filter_sku", help_text="SKU or barcode of the item.")
        warehouse = filters.CharFilter(
            field_name="location__warehouse", method="filter_warehouse", help_text="Warehouse code."
        )
        location = filters.CharFilter(
            field_name="location_id",
            method="filter_location",
            help_text="Location code (within ``warehouse``) or barcode; its sub-locations are included.",
        )
        lot = filters.CharFilter(field_name="lot", method="filter_lot", help_text="Lot code.")
        group_by = filters.ChoiceFilter(
            choices=[(key, key) for key in GROUPINGS if key],
            method="keep",
            help_text="Sum per item x warehouse, item x location or item x warehouse x lot.",
        )
        include_empty = filters.BooleanFilter(method="keep", help_text="Also rows with nothing on hand or reserved.")

        class Meta:
            model = StockLevel
            fields = ["item", "sku", "warehouse", "location", "lot", "group_by", "include_empty"]

        def keep(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
            return queryset  # applied by the view when it groups

    serializer_class = OutputSerializer
    filterset_class = Filter
    queryset = StockLevel.objects.filter(location__kind=LocationKind.INTERNAL)

    def get_queryset(self) -> QuerySet[StockLevel]:
        return scope_to_warehouses(self.queryset, self.request.user, "location__warehouse")

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        levels = super().filter_queryset(queryset)
        params = self.request.query_params
        columns = GROUPINGS[params.get("group_by", "")]
        rows = levels.values(
            "item_id", sku=F("item__sku"), warehouse=F("location__warehouse__code"), **columns
        ).annotate(
            total_on_hand=Sum("on_hand", output_field=_QTY),
            total_reserved=Sum("reserved", output_field=_QTY),
            total_available=Sum(F("on_hand") - F("reserved"), output_field=_QTY),
        )
        if params.get("include_empty", "").lower() not in ("true", "1", "yes", "on"):
            rows = rows.exclude(total_on_hand=0, total_reserved=0)
        order = [name for name in ("location_code", "expiry_date", "lot_code") if name in columns]
        return rows.order_by("sku", "warehouse", *order)

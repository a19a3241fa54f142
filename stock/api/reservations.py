"""Reservations: create, list, release, consume."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import (
    NamingFilterSet,
    item_from_reference,
    location_from_reference,
    warehouse_from_code,
)
from catalog.permissions import scope_to_warehouses
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent

from ..models import (
    Reservation,
    ReservationLine,
    ReservationStatus,
)
from ..services import (
    reservation_consume,
    reservation_create,
    reservation_release,
)
from .common import POSITIVE, quantity_field
from .movements import MovementOutputSerializer

# --- Reservations ---------------------------------------------------------------------------------


@extend_schema_serializer(component_name="Reservation")
class ReservationOutputSerializer(serializers.ModelSerializer):
    @extend_schema_serializer(component_name="ReservationAllocation")
    class LineSerializer(serializers.ModelSerializer):
        location = serializers.CharField(source="location.code")
        lot = serializers.CharField(source="lot.code", allow_null=True, default=None)

        class Meta:
            model = ReservationLine
            fields = ["location", "lot", "quantity"]

    sku = serializers.CharField(source="item.sku")
    warehouse = serializers.CharField(source="warehouse.code")
    location = serializers.CharField(source="location.code", allow_null=True, default=None)
    lot = serializers.CharField(source="lot.code", allow_null=True, default=None)
    open_quantity = serializers.DecimalField(max_digits=18, decimal_places=4, read_only=True)
    reference = serializers.CharField(source="reference_id")
    lines = LineSerializer(many=True, read_only=True, help_text="Where the open quantity is held.")

    class Meta:
        model = Reservation
        fields = [
            "id",
            "item",
            "sku",
            "warehouse",
            "location",
            "lot",
            "quantity",
            "consumed",
            "released",
            "open_quantity",
            "status",
            "reference_type",
            "reference",
            "reference_line",
            "lines",
            "created_at",
            "updated_at",
        ]


class ReservationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Stock held for an order: create when it is placed, consume when it ships (the stock is
    issued), release when it is cancelled."""

    class Filter(NamingFilterSet):
        sku = filters.CharFilter(field_name="item", method="filter_sku", help_text="SKU or barcode of the item.")
        warehouse = filters.CharFilter(field_name="warehouse", method="filter_warehouse", help_text="Warehouse code.")
        reference = filters.CharFilter(field_name="reference_id")
        status = filters.ChoiceFilter(choices=ReservationStatus.choices)

        class Meta:
            model = Reservation
            fields = ["item", "sku", "warehouse", "status", "reference", "reference_type"]

    @extend_schema_serializer(component_name="NewReservation")
    class InputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=64, help_text="SKU or barcode of the item.")
        warehouse = serializers.CharField(max_length=20)
        quantity = quantity_field(min_value=POSITIVE)
        location = serializers.CharField(
            max_length=64, required=False, help_text="Hold at this location (code or barcode) and below."
        )
        lot = serializers.CharField(max_length=64, required=False)
        reference = serializers.CharField(max_length=100, required=False, allow_blank=True, help_text="The order.")
        reference_type = serializers.CharField(max_length=60, required=False, allow_blank=True)
        reference_line = serializers.CharField(max_length=40, required=False, allow_blank=True)

    @extend_schema_serializer(component_name="ReservationQuantity")
    class QuantityInputSerializer(serializers.Serializer):
        quantity = quantity_field(min_value=POSITIVE, required=False, help_text="Default: all that is still open.")

    @extend_schema_serializer(component_name="Consumption")
    class ConsumeOutputSerializer(serializers.Serializer):
        reservation = ReservationOutputSerializer()
        movements = MovementOutputSerializer(many=True)

    required_permissions = {"release": ["stock.change_reservation"], "consume": ["stock.change_reservation"]}
    serializer_class = ReservationOutputSerializer
    filterset_class = Filter
    queryset = Reservation.objects.select_related("item", "warehouse", "location", "lot").prefetch_related(
        Prefetch("lines", queryset=ReservationLine.objects.filter(quantity__gt=0).select_related("location", "lot"))
    )

    def get_queryset(self) -> QuerySet[Reservation]:
        return scope_to_warehouses(self.queryset, self.request.user, "warehouse").order_by("-id")

    def _output(self, reservation: Reservation) -> dict:
        return ReservationOutputSerializer(self.queryset.get(pk=reservation.pk)).data

    @extend_schema(
        request=InputSerializer,
        responses={201: ReservationOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "Order placed",
                value={"sku": "KNF-001", "warehouse": "AMS", "quantity": "2", "reference": "ORDER-1001"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        """Hold stock for an order (FEFO over the warehouse, or the location's subtree)."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def write(key: str | None) -> Response:
            warehouse = warehouse_from_code(data["warehouse"])
            location = location_from_reference(data["location"], warehouse) if data.get("location") else None
            reservation = reservation_create(
                item=item_from_reference(data["sku"]),
                warehouse=warehouse,
                quantity=data["quantity"],
                location=location,
                lot=data.get("lot") or None,
                reference_type=data.get("reference_type", ""),
                reference_id=data.get("reference", ""),
                reference_line=data.get("reference_line", ""),
                actor=request.user,
                idempotency_key=key,
            )
            return Response(self._output(reservation), status=status.HTTP_201_CREATED)

        return idempotent(request, write)

    @extend_schema(
        request=QuantityInputSerializer,
        responses={200: ReservationOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        """Give back (part of) what is held: the order was cancelled or changed."""
        reservation = self.get_object()
        serializer = self.QuantityInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def write(key: str | None) -> Response:
            released = reservation_release(
                reservation=reservation, actor=request.user, quantity=serializer.validated_data.get("quantity")
            )
            return Response(self._output(released))

        return idempotent(request, write)

    @extend_schema(
        request=QuantityInputSerializer, responses={201: ConsumeOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    @action(detail=True, methods=["post"])
    def consume(self, request: Request, pk: str | None = None) -> Response:
        """Ship (part of) what is held: issue movements from the reserved stock to the customer."""
        reservation = self.get_object()
        serializer = self.QuantityInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def write(key: str | None) -> Response:
            movements = reservation_consume(
                reservation=reservation,
                actor=request.user,
                quantity=serializer.validated_data.get("quantity"),
                idempotency_key=key,
            )
            output = {"reservation": self.queryset.get(pk=reservation.pk), "movements": movements}
            return Response(self.ConsumeOutputSerializer(output).data, status=status.HTTP_201_CREATED)

        return idempotent(request, write)

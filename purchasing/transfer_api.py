"""REST API of transfers between warehouses (docs/replenishment.md, "Transfers"):

- ``GET /api/v1/transfers/[?warehouse=CODE]``: stock in transit from or to the user's warehouses;
- ``POST /api/v1/transfers/``: ship (``stock.services.transfer_ship``);
- ``POST /api/v1/transfers/{shipment id}/arrive/``: receive it, or part of it
  (``stock.services.transfer_arrive``).

The services check the warehouse rights (post movements where it leaves, and where it arrives);
a shipment the user cannot see is a 404. Writes are idempotent by the ``Idempotency-Key`` header.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import item_from_reference, location_from_reference, warehouse_from_code
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from stock.api import POSITIVE, MovementOutputSerializer, quantity_field
from stock.services import transfer_arrive, transfer_ship

from .transfers import stock_in_transit


@extend_schema_serializer(component_name="InTransit")
class InTransitOutputSerializer(serializers.Serializer):
    shipment = serializers.IntegerField(source="shipment.pk")
    sku = serializers.CharField(source="item.sku")
    from_warehouse = serializers.CharField(source="from_warehouse.code")
    to_warehouse = serializers.CharField()
    shipped = serializers.DecimalField(max_digits=18, decimal_places=4)
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4, help_text="Still in transit.")
    value = serializers.DecimalField(max_digits=22, decimal_places=4)
    shipped_at = serializers.DateTimeField(source="shipment.occurred_at")


class TransferApi(APIView):
    """Stock in transit between warehouses, and shipping it."""

    required_permissions = {"GET": ["stock.view_movement"], "POST": ["stock.add_movement"]}

    @extend_schema_serializer(component_name="TransferShipment")
    class InputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=64)
        quantity = quantity_field(min_value=POSITIVE)
        location = serializers.CharField(max_length=64, help_text="The bin it leaves (code or barcode).")
        from_warehouse = serializers.CharField(max_length=20)
        to_warehouse = serializers.CharField(max_length=20)
        lot = serializers.CharField(max_length=64, required=False, allow_blank=True)
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    @extend_schema(
        responses={200: InTransitOutputSerializer(many=True)},
        parameters=[OpenApiParameter("warehouse", str, description="Only to or from this warehouse (code).")],
    )
    def get(self, request: Request) -> Response:
        # Any existing warehouse: the list is already only what leaves or reaches the user's own
        # warehouses, so a clerk may name the other end of a shipment (docs/api.md).
        code = request.query_params.get("warehouse", "")
        warehouse = warehouse_from_code(code) if code.strip() else None
        return Response(
            InTransitOutputSerializer(stock_in_transit(user=request.user, warehouse=warehouse), many=True).data
        )

    @extend_schema(
        request=InputSerializer, responses={201: MovementOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def post(self, request: Request) -> Response:
        """Ship: the stock leaves the bin (and its warehouse's value) for the in-transit location."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def write(key: str | None) -> Response:
            source_warehouse = warehouse_from_code(data["from_warehouse"], field="from_warehouse")
            shipment = transfer_ship(
                item=item_from_reference(data["sku"]),
                quantity=data["quantity"],
                source=location_from_reference(data["location"], source_warehouse),
                to_warehouse=warehouse_from_code(data["to_warehouse"], field="to_warehouse"),
                actor=request.user,
                lot=data.get("lot") or None,
                note=data.get("note", ""),
                idempotency_key=key,
            )
            return Response(MovementOutputSerializer(shipment).data, status=status.HTTP_201_CREATED)

        return idempotent(request, write)


class TransferArriveApi(APIView):
    """Receive a shipment (all that is still in transit, or ``quantity`` of it) into a bin of
    the warehouse it goes to."""

    required_permissions = {"POST": ["stock.add_movement"]}

    @extend_schema_serializer(component_name="TransferArrival")
    class InputSerializer(serializers.Serializer):
        location = serializers.CharField(max_length=64, help_text="A bin of the destination warehouse.")
        quantity = quantity_field(min_value=POSITIVE, required=False)

    @extend_schema(
        request=InputSerializer, responses={201: MovementOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    def post(self, request: Request, pk: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        open_shipment = next((t for t in stock_in_transit(user=request.user) if t.shipment.pk == pk), None)
        if open_shipment is None:
            raise Http404

        def write(key: str | None) -> Response:
            destination = location_from_reference(
                data["location"], warehouse_from_code(open_shipment.to_warehouse, field="location")
            )
            arrival = transfer_arrive(
                shipment=open_shipment.shipment,
                destination=destination,
                actor=request.user,
                quantity=data.get("quantity"),
                idempotency_key=key,
            )
            return Response(MovementOutputSerializer(arrival).data, status=status.HTTP_201_CREATED)

        return idempotent(request, write)

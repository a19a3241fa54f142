"""Sales and customer returns: each ONE posting (``stock_post_batch``) of all its lines or none."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import (
    item_named,
    location_from_reference,
    warehouse_and_items,
)
from catalog.models import Item, Location, Warehouse
from common.api.fields import decimal_string
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from common.api.serializers import PrebuiltFieldsSerializer

from ..models import MovementKind
from ..selectors import stock_available_by_item
from ..services import (
    AvailableAfter,
    StockRequest,
    stock_post_batch,
)
from .common import MAX_LINES, POSITIVE, _noting_short_picks, quantity_field, unit_cost_field

# --- Sales and returns ----------------------------------------------------------------------------


@extend_schema_serializer(component_name="Posting")
class PostingOutputSerializer(serializers.Serializer):
    @extend_schema_serializer(component_name="PostingLine")
    class LineSerializer(serializers.Serializer):
        sku = serializers.CharField()
        quantity = serializers.DecimalField(max_digits=18, decimal_places=4)
        available = serializers.DecimalField(
            max_digits=20, decimal_places=4, help_text="Available in the warehouse after posting."
        )

    id = serializers.UUIDField(help_text="The posting (batch of movements); see /movements/?batch=<id>.")
    reference = serializers.CharField()
    warehouse = serializers.CharField()
    lines = LineSerializer(many=True)
    movements = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of the movements posted.")


@extend_schema_serializer(component_name="SaleLine")
class DocumentLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64, help_text="SKU or barcode of the item.")
    quantity = quantity_field(min_value=POSITIVE)
    location = serializers.CharField(max_length=64, required=False, help_text="Code or barcode (optional).")
    lot = serializers.CharField(max_length=64, required=False)


@extend_schema_serializer(component_name="ReturnLine")
class ReturnLineInputSerializer(DocumentLineInputSerializer):
    expiry = serializers.DateField(required=False, allow_null=True, help_text="Expiry of a new lot.")
    unit_cost = unit_cost_field()


class _DocumentApi(APIView):
    """A sale or a customer return of a shop or POS: one posting of all its lines."""

    required_permissions = {"POST": ["stock.add_movement"]}

    class InputSerializer(PrebuiltFieldsSerializer):  # built once per thread: validated on every sale
        reference = serializers.CharField(max_length=100, help_text="The order or receipt number.")
        warehouse = serializers.CharField(max_length=20, help_text="Warehouse code.")
        occurred_at = serializers.DateTimeField(required=False, help_text="When it happened (default: now).")
        note = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    def line_request(
        self, line: dict, index: int, warehouse: Warehouse, document: dict, item: Item | None
    ) -> StockRequest:
        """The line's request; ``item``: the one its ``sku`` named (None: none, ``item_named``
        refuses it after the line's location, as a look-up per line would)."""
        raise NotImplementedError

    @staticmethod
    def line_location(line: dict, index: int, warehouse: Warehouse) -> Location | None:
        """The bin a line names (barcode, else code in ``warehouse``), or None when it names none."""
        if not line.get("location"):
            return None
        return location_from_reference(line["location"], warehouse, field="location", line=index)

    reference_type = ""  # each document's own: "api.sale", "api.return"

    def line_fields(
        self, line: dict, index: int, warehouse: Warehouse, document: dict, item: Item | None
    ) -> dict[str, Any]:
        """The fields of ``StockRequest`` every document line fills the same way: its item
        (``item_named`` refuses a SKU that named none), quantity, warehouse, lot, the document's
        note and its reference (the line's number counted from 1). Called after the line's
        location is read, so errors come in the document's order."""
        return {
            "item": item_named(item, line["sku"], line=index),
            "quantity": line["quantity"],
            "warehouse": warehouse,
            "lot": line.get("lot") or None,
            "note": document.get("note", ""),
            "reference_type": self.reference_type,
            "reference_id": document["reference"],
            "reference_line": str(index + 1),
        }

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = serializer.validated_data

        def write(key: str | None) -> Response:
            lines = document["lines"]  # the warehouse and every line's item: one statement
            warehouse, items = warehouse_and_items(document["warehouse"], [line["sku"] for line in lines])
            requests = [
                self.line_request(line, index, warehouse, document, items[index]) for index, line in enumerate(lines)
            ]
            after = AvailableAfter(warehouse)  # read by a one-line posting in its own statement
            movements = stock_post_batch(  # repeated keys answered by ``idempotent``: fresh
                requests=requests,
                actor=request.user,
                idempotency_key=key,
                occurred_at=document.get("occurred_at"),
                fresh_key=True,
                available_after=after,
            )
            unread = [r.item.pk for r in requests if r.item.pk not in after.by_item]
            available = {**stock_available_by_item(item_ids=unread, warehouse=warehouse), **after.by_item}
            output = {  # PostingOutputSerializer's shape, built directly (test_api_sales pins the two together)
                "id": str(movements[0].batch),
                "reference": document["reference"],
                "warehouse": warehouse.code,
                "lines": [
                    {
                        "sku": r.item.sku,
                        "quantity": decimal_string(r.quantity),
                        "available": decimal_string(available[r.item.pk]),
                    }
                    for r in requests
                ],
                "movements": [m.pk for m in movements],
            }
            return Response(output, status=status.HTTP_201_CREATED)

        return idempotent(request, write)


class SaleApi(_DocumentApi):
    """A shop or POS sale: issues every line to the customer; without a location (or lot) the
    stock is picked by FEFO across the warehouse's bins."""

    @extend_schema_serializer(component_name="Sale")
    class InputSerializer(_DocumentApi.InputSerializer):
        lines = DocumentLineInputSerializer(many=True, min_length=1, max_length=MAX_LINES)

    reference_type = "api.sale"

    def line_request(
        self, line: dict, index: int, warehouse: Warehouse, document: dict, item: Item | None
    ) -> StockRequest:
        location = self.line_location(line, index, warehouse)
        fields = self.line_fields(line, index, warehouse, document, item)
        return StockRequest(kind=MovementKind.ISSUE, source=location, pick=True, **fields)

    @extend_schema(
        request=InputSerializer,
        responses={201: PostingOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "Web shop order",
                value={
                    "reference": "ORDER-1001",
                    "warehouse": "AMS",
                    "lines": [{"sku": "KNF-001", "quantity": "2"}, {"sku": "8719327000021", "quantity": 1}],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """Post a sale: all lines or none. 409 insufficient_stock names the SKU and what is
        available; a line naming a bin that holds too little is recorded as a short pick."""
        return _noting_short_picks(request, lambda: super(SaleApi, self).post(request), issues=True)


class CustomerReturnApi(_DocumentApi):
    """A customer return: every line comes back into the warehouse, to its location, else to the
    bin the item was last issued from there."""

    @extend_schema_serializer(component_name="CustomerReturn")
    class InputSerializer(_DocumentApi.InputSerializer):
        lines = ReturnLineInputSerializer(many=True, min_length=1, max_length=MAX_LINES)
        reason = serializers.CharField(max_length=40, required=False, allow_blank=True)

    reference_type = "api.return"

    def line_request(
        self, line: dict, index: int, warehouse: Warehouse, document: dict, item: Item | None
    ) -> StockRequest:
        location = self.line_location(line, index, warehouse)
        return StockRequest(
            kind=MovementKind.CUSTOMER_RETURN,
            destination=location,
            expiry_date=line.get("expiry"),
            unit_cost=line.get("unit_cost"),
            reason_code=document.get("reason", "").strip(),
            **self.line_fields(line, index, warehouse, document, item),
        )

    @extend_schema(
        request=InputSerializer,
        responses={201: PostingOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "Returned by a customer",
                value={
                    "reference": "RMA-77",
                    "warehouse": "AMS",
                    "lines": [{"sku": "KNF-001", "quantity": "1", "location": "A-01-01"}],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """Post a customer return: all lines or none."""
        return super().post(request)

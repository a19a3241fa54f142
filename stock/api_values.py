"""``POST /api/v1/value-entries/`` (docs/api.md, "Value-only entries"): a manager's write-down,
or a landed cost or supplier price difference given per receipt movement. Thin: validate, name
the item, warehouse and receipts (only movements the user may see: another warehouse's receipt
is unknown here), call ``stock.services`` (which checks the "adjust" right and, for a write-down
above the value limit, the "approve" right) and answer with the batch and the entries posted, each a movement
of quantity 0 with the signed value change in ``total_cost``."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import item_from_reference, warehouse_from_code
from catalog.permissions import scope_to_warehouses
from common.api.fields import QuantityField
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent

from .api import MovementOutputSerializer
from .models import Movement, MovementKind
from .services import RECEIPT_ENTRY_KINDS, InvalidMovement, receipts_revalue, stock_write_down

AMOUNT_DIGITS = 18
KINDS = [(MovementKind.WRITE_DOWN.value, "Write-down")] + [(k.value, k.label) for k in RECEIPT_ENTRY_KINDS]


class ReceiptShareSerializer(serializers.Serializer):
    movement = serializers.IntegerField(min_value=1, help_text="Id of a receipt movement.")
    amount = QuantityField(max_digits=AMOUNT_DIGITS, help_text="Signed amount for this receipt.")


class ValueEntryInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KINDS)
    reason = serializers.CharField(max_length=40, help_text="Reason code (freight, duty, damaged, ...).")
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    sku = serializers.CharField(max_length=64, required=False, help_text="Write-down: the item.")
    warehouse = serializers.CharField(max_length=20, required=False, help_text="Write-down: its warehouse.")
    amount = QuantityField(
        max_digits=AMOUNT_DIGITS, required=False, min_value=Decimal("0.0001"), help_text="Write-down: value taken off."
    )
    receipts = ReceiptShareSerializer(many=True, required=False, min_length=1, max_length=1000)

    def validate(self, data: dict) -> dict:
        if data["kind"] == MovementKind.WRITE_DOWN:
            missing = {f: "A write-down needs it." for f in ("sku", "warehouse", "amount") if f not in data}
            if "receipts" in data:
                missing["receipts"] = "A write-down names no receipts."
        else:
            missing = {} if data.get("receipts") else {"receipts": f"A {data['kind']} needs its receipts."}
            missing.update({f: f"A {data['kind']} has no {f}." for f in ("sku", "warehouse", "amount") if f in data})
        if missing:
            raise serializers.ValidationError(missing)
        return data


@extend_schema_serializer(component_name="PostedValueEntries")
class ValueEntryOutputSerializer(serializers.Serializer):
    batch = serializers.UUIDField()
    entries = MovementOutputSerializer(many=True)


class ValueEntryViewSet(viewsets.GenericViewSet):
    """Post value-only entries: write-downs, landed costs and price differences."""

    serializer_class = ValueEntryInputSerializer
    queryset = Movement.objects.none()

    def _receipts(self, shares: list[dict]) -> list[tuple[Movement, Decimal]]:
        ids = [share["movement"] for share in shares]
        visible = scope_to_warehouses(
            Movement.objects.select_related("item", "lot", "destination__warehouse"),
            self.request.user,
            "source__warehouse",
            "destination__warehouse",
        ).in_bulk(ids)
        unknown = [str(pk) for pk in ids if pk not in visible]
        if unknown:
            raise InvalidMovement(f"No receipt movement {', '.join(unknown)} that you may see.")
        return [(visible[share["movement"]], share["amount"]) for share in shares]

    @extend_schema(
        request=ValueEntryInputSerializer,
        responses={201: ValueEntryOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "Freight on two receipts",
                value={
                    "kind": "landed_cost",
                    "reason": "freight",
                    "reference": "INV-2291",
                    "receipts": [{"movement": 1041, "amount": "12.50"}, {"movement": 1042, "amount": "7.50"}],
                },
                request_only=True,
            ),
            OpenApiExample(
                "A write-down",
                value={"kind": "write_down", "reason": "damaged", "sku": "KNF-001", "warehouse": "AMS", "amount": "40"},
                request_only=True,
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        """Post a write-down, or a landed cost or price difference per receipt."""
        serializer = ValueEntryInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "reason_code": data["reason"],
            "reference_id": data.get("reference", ""),
            "note": data.get("note", ""),
        }

        def write(key: str | None) -> Response:
            if data["kind"] == MovementKind.WRITE_DOWN:
                entries = [
                    stock_write_down(
                        item=item_from_reference(data["sku"]),
                        warehouse=warehouse_from_code(data["warehouse"]),
                        amount=data["amount"],
                        actor=request.user,
                        idempotency_key=key,
                        **common,
                    )
                ]
            else:
                entries = receipts_revalue(
                    kind=data["kind"],
                    shares=self._receipts(data["receipts"]),
                    actor=request.user,
                    idempotency_key=key,
                    **common,
                )
            output = ValueEntryOutputSerializer({"batch": entries[0].batch, "entries": entries})
            return Response(output.data, status=status.HTTP_201_CREATED)

        return idempotent(request, write)

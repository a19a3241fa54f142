"""Movements: list, retrieve, post (one or a bulk request), reverse."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import (
    item_from_reference,
    location_from_reference,
    viewable_warehouse_from_code,
    warehouse_from_code,
)
from catalog.models import LocationKind
from catalog.permissions import scope_to_warehouses
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent

from ..models import (
    Movement,
    MovementKind,
)
from ..services import (
    StockRequest,
    movement_reverse,
    stock_post_batch,
)
from .common import MAX_LINES, LedgerFilterSet, _noting_short_picks, quantity_field, unit_cost_field

# --- Movements ------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="MovementSide")
class LocationRefSerializer(serializers.Serializer):
    """One side of a movement: an internal location (with its warehouse) or a virtual one."""

    id = serializers.IntegerField()
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)
    code = serializers.CharField()
    kind = serializers.ChoiceField(choices=LocationKind.choices)


@extend_schema_serializer(component_name="Movement")
class MovementOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="item.sku")
    lot = serializers.CharField(source="lot.code", allow_null=True, default=None)
    from_location = LocationRefSerializer(source="source")
    to_location = LocationRefSerializer(source="destination")
    reason = serializers.CharField(source="reason_code")
    reference = serializers.CharField(source="reference_id")
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    reversed_by = serializers.SerializerMethodField()

    class Meta:
        model = Movement
        fields = [
            "id",
            "batch",
            "batch_line",
            "kind",
            "item",
            "sku",
            "lot",
            "quantity",
            "from_location",
            "to_location",
            "unit_cost",
            "total_cost",
            "reason",
            "note",
            "reference_type",
            "reference",
            "reference_line",
            "origin",
            "actor",
            "occurred_at",
            "posted_at",
            "reverses",
            "reversed_by",
        ]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_reversed_by(self, movement: Movement) -> int | None:
        reversal = getattr(movement, "reversed_by", None)
        return reversal.pk if reversal is not None else None


REQUESTABLE_KINDS = [
    MovementKind.RECEIPT,
    MovementKind.ISSUE,
    MovementKind.TRANSFER,
    MovementKind.SCRAP,
    MovementKind.ADJUSTMENT,
]
REQUESTABLE_KIND_CHOICES = [(kind.value, kind.label) for kind in REQUESTABLE_KINDS]
# kind -> (from_location, to_location): True required, False refused, None optional
SIDES = {
    MovementKind.RECEIPT: (False, True),
    MovementKind.ISSUE: (True, False),
    MovementKind.TRANSFER: (True, True),
    MovementKind.SCRAP: (True, False),
    MovementKind.ADJUSTMENT: (None, None),
}


@extend_schema_serializer(component_name="NewMovement")
class MovementInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=REQUESTABLE_KIND_CHOICES)
    sku = serializers.CharField(max_length=64, help_text="SKU or barcode of the item.")
    quantity = quantity_field(help_text="Greater than zero; for adjustments the signed change.")
    warehouse = serializers.CharField(max_length=20, required=False, help_text="Code of the locations' warehouse.")
    to_warehouse = serializers.CharField(
        max_length=20, required=False, help_text="Transfers to another warehouse: its code (default: warehouse)."
    )
    from_location = serializers.CharField(
        max_length=64, required=False, help_text="Code (within warehouse) or barcode; not for receipts."
    )
    to_location = serializers.CharField(
        max_length=64, required=False, help_text="Code (within to_warehouse) or barcode; not for issues and scraps."
    )
    unit_cost = unit_cost_field()
    lot = serializers.CharField(max_length=64, required=False, help_text="Lot code (lot-tracked items).")
    expiry = serializers.DateField(required=False, allow_null=True, help_text="Expiry of a new lot (receipts).")
    reason = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text="Reason code; required for scraps and adjustments."
    )
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    def validate(self, data: dict) -> dict:
        kind = data["kind"]
        errors: dict[str, str] = {}
        for field, rule in zip(("from_location", "to_location"), SIDES[kind], strict=True):
            if rule is True and not data.get(field):
                errors[field] = f"A {kind} needs {field}."
            elif rule is False and data.get(field):
                errors[field] = f"A {kind} has no {field}."
        if kind == MovementKind.ADJUSTMENT:
            if bool(data.get("from_location")) == bool(data.get("to_location")):
                errors["to_location"] = "An adjustment names one location: to_location (or from_location)."
            if data["quantity"] == 0:
                errors["quantity"] = "An adjustment of zero changes nothing."
        elif data["quantity"] <= 0:
            errors["quantity"] = "The quantity must be greater than zero."
        if kind in (MovementKind.SCRAP, MovementKind.ADJUSTMENT) and not data.get("reason", "").strip():
            errors["reason"] = f"A {kind} needs a reason."
        if data.get("unit_cost") is not None and kind not in (MovementKind.RECEIPT, MovementKind.ADJUSTMENT):
            errors["unit_cost"] = "Only receipts and adjustments carry a unit cost."
        if data.get("expiry") is not None and not data.get("lot"):
            errors["expiry"] = "An expiry belongs to a lot: give the lot too."
        if data.get("to_warehouse") and kind != MovementKind.TRANSFER:
            errors["to_warehouse"] = "Only transfers go to another warehouse."
        if errors:
            raise serializers.ValidationError(errors)
        return data


def _movement_request(data: dict, *, line: int | None = None) -> StockRequest:
    """The service request of one validated movement (resolving SKU, warehouse and locations)."""
    item = item_from_reference(data["sku"], line=line)
    warehouse = warehouse_from_code(data["warehouse"]) if data.get("warehouse") else None
    to_warehouse = warehouse_from_code(data["to_warehouse"], field="to_warehouse") if data.get("to_warehouse") else None
    source = destination = None
    if data.get("from_location"):
        source = location_from_reference(data["from_location"], warehouse, field="from_location", line=line)
    if data.get("to_location"):
        destination = location_from_reference(
            data["to_location"], to_warehouse or warehouse, field="to_location", line=line
        )
    reference = data.get("reference", "")
    return StockRequest(
        kind=data["kind"],
        item=item,
        quantity=data["quantity"],
        source=source,
        destination=destination,
        lot=data.get("lot") or None,
        expiry_date=data.get("expiry"),
        unit_cost=data.get("unit_cost"),
        reason_code=data.get("reason", "").strip(),
        note=data.get("note", ""),
        reference_type="api.movement" if reference else "",
        reference_id=reference,
    )


RECEIPT_EXAMPLE = OpenApiExample(
    "Receipt",
    value={
        "kind": "receipt",
        "sku": "KNF-001",
        "quantity": "12",
        "warehouse": "AMS",
        "to_location": "A-01-01",
        "unit_cost": "18.50",
        "reference": "PO-2024-0042",
    },
    request_only=True,
)
ADJUSTMENT_EXAMPLE = OpenApiExample(
    "Adjustment (a loss found in a count)",
    value={
        "kind": "adjustment",
        "sku": "KNF-001",
        "quantity": "-1",
        "warehouse": "AMS",
        "to_location": "A-01-01",
        "reason": "count",
    },
    request_only=True,
)


class MovementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The ledger's movements in posting order (``since_id`` to follow it), and the door to post
    receipts, issues, transfers, scraps and adjustments, one or many at once, and to reverse one."""

    class Filter(LedgerFilterSet):
        sku = filters.CharFilter(field_name="item", method="filter_sku", help_text="SKU or barcode of the item.")
        kind = filters.MultipleChoiceFilter(choices=MovementKind.choices)
        warehouse = filters.CharFilter(method="filter_warehouse", help_text="Into or out of this warehouse (code).")
        lot = filters.CharFilter(field_name="lot", method="filter_lot", help_text="Lot code.")
        reference = filters.CharFilter(field_name="reference_id")
        batch = filters.UUIDFilter(field_name="batch")
        occurred_after = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
        occurred_before = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
        since_id = filters.NumberFilter(field_name="id", lookup_expr="gt", help_text="Only movements after this id.")

        class Meta:
            model = Movement
            fields = [
                "item",
                "sku",
                "kind",
                "warehouse",
                "lot",
                "reference",
                "reference_type",
                "batch",
                "occurred_after",
                "occurred_before",
                "since_id",
            ]

        def filter_warehouse(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
            warehouse = viewable_warehouse_from_code(value, self.request.user)
            return queryset.filter(
                Q(source__warehouse=warehouse, source__kind=LocationKind.INTERNAL)
                | Q(destination__warehouse=warehouse, destination__kind=LocationKind.INTERNAL)
            )

    @extend_schema_serializer(component_name="MovementBatch")
    class BulkInputSerializer(serializers.Serializer):
        lines = MovementInputSerializer(many=True, min_length=1, max_length=MAX_LINES)
        occurred_at = serializers.DateTimeField(required=False, help_text="When it happened (default: now).")

    @extend_schema_serializer(component_name="PostedBatch")
    class BulkOutputSerializer(serializers.Serializer):
        batch = serializers.UUIDField()
        movements = MovementOutputSerializer(many=True)

    @extend_schema_serializer(component_name="Reversal")
    class ReverseInputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=1000, help_text="Why the movement is undone.")

    serializer_class = MovementOutputSerializer
    filterset_class = Filter
    queryset = Movement.objects.select_related(
        "item", "lot", "source__warehouse", "destination__warehouse", "actor", "reversed_by"
    ).order_by("id")

    def get_queryset(self) -> QuerySet[Movement]:
        return scope_to_warehouses(self.queryset, self.request.user, "source__warehouse", "destination__warehouse")

    def _post(self, request: Request, requests: Sequence[StockRequest], key: str | None, occurred_at: Any) -> list:
        # ``key`` comes from ``idempotent``, which answers repeated keys itself (its claim comes last)
        return stock_post_batch(
            requests=requests, actor=request.user, idempotency_key=key, occurred_at=occurred_at, fresh_key=True
        )

    @extend_schema(
        request=MovementInputSerializer,
        responses={201: MovementOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[RECEIPT_EXAMPLE, ADJUSTMENT_EXAMPLE],
    )
    def create(self, request: Request) -> Response:
        """Post one movement: a receipt, issue, transfer, scrap or adjustment."""
        serializer = MovementInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def write(key: str | None) -> Response:
            movements = self._post(request, [_movement_request(serializer.validated_data)], key, None)
            return Response(MovementOutputSerializer(movements[0]).data, status=status.HTTP_201_CREATED)

        issue = serializer.validated_data["kind"] == MovementKind.ISSUE
        return _noting_short_picks(request, lambda: idempotent(request, write), issues=issue)

    @extend_schema(
        request=BulkInputSerializer,
        responses={201: BulkOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "A delivery put away and a pick",
                value={
                    "lines": [
                        {
                            "kind": "receipt",
                            "sku": "KNF-001",
                            "quantity": "6",
                            "warehouse": "AMS",
                            "to_location": "A-01-01",
                        },
                        {
                            "kind": "issue",
                            "sku": "KNF-001",
                            "quantity": "2",
                            "warehouse": "AMS",
                            "from_location": "A-01-01",
                        },
                    ]
                },
                request_only=True,
            )
        ],
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """Post many movements as one batch: all of them or none."""
        serializer = self.BulkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def write(key: str | None) -> Response:
            requests = [_movement_request(line, line=index) for index, line in enumerate(data["lines"])]
            movements = self._post(request, requests, key, data.get("occurred_at"))
            output = {"batch": movements[0].batch, "movements": movements}
            return Response(self.BulkOutputSerializer(output).data, status=status.HTTP_201_CREATED)

        taking_out = [line["kind"] for line in data["lines"] if SIDES[line["kind"]][0] is not False]
        issues = all(kind == MovementKind.ISSUE for kind in taking_out)
        return _noting_short_picks(request, lambda: idempotent(request, write), issues=issues)

    @extend_schema(
        request=ReverseInputSerializer, responses={201: MovementOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    @action(detail=True, methods=["post"])
    def reverse(self, request: Request, pk: str | None = None) -> Response:
        """Undo a movement with its mirror image (a new movement; the original stays)."""
        movement = self.get_object()
        serializer = self.ReverseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def write(key: str | None) -> Response:
            reversal = movement_reverse(
                movement=movement, actor=request.user, reason=serializer.validated_data["reason"], idempotency_key=key
            )
            return Response(MovementOutputSerializer(reversal).data, status=status.HTTP_201_CREATED)

        return idempotent(request, write)

"""REST API of the ledger (docs/api.md): lots, stock levels, movements (list, post, bulk post,
reverse), reservations (create, release, consume), sales and customer returns.

Every view validates its input with a nested ``InputSerializer``, names items, warehouses and
locations through ``catalog.api``'s look-ups, calls one service of ``stock.services`` with
``actor=request.user`` (the services check the role and warehouse permissions) and answers with a
nested ``OutputSerializer``. Writes run through ``common.api.idempotency.idempotent`` (the
``Idempotency-Key`` header). Lists are scoped to the warehouses where the user may view stock;
another warehouse's object by id is a 404.

A sale, a return or a bulk movement request is ONE posting (``stock_post_batch``, one
``movement_post``): all of its lines or none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, F, Prefetch, Q, QuerySet, Sum
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import (
    NamingFilterSet,
    item_from_reference,
    item_named,
    location_from_reference,
    viewable_warehouse_from_code,
    warehouse_and_items,
    warehouse_from_code,
)
from catalog.models import Item, LocationKind, Warehouse
from catalog.permissions import scope_to_warehouses
from common.api.errors import ApiError
from common.api.fields import QuantityField, decimal_string
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from common.api.serializers import PrebuiltFieldsSerializer

from .models import (
    Lot,
    Movement,
    MovementKind,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)
from .selectors import lots_visible, stock_available_by_item
from .services import (
    AvailableAfter,
    InsufficientStock,
    StockRequest,
    movement_reverse,
    reservation_consume,
    reservation_create,
    reservation_release,
    short_pick_from_refusal,
    stock_post_batch,
)

# Largest quantity of one line (< 10^9) and unit cost (< 10^7): their product always fits the
# ledger's money columns (16 digits before the point).
QUANTITY_DIGITS = 13
UNIT_COST_DIGITS = 11
POSITIVE = Decimal("0.0001")
MAX_LINES = 1000


def _noting_short_picks(request: Request, post: Callable[[], Response], *, issues: bool) -> Response:
    """Run ``post``; when it is refused because a named bin holds less than an issue asked
    (``issues``: every line that takes stock out is an issue), record the short pick for the
    count plan (``stock.services.short_pick_record``) after the refusal rolled back, then let
    the 409 through: the refusal itself still writes no movement."""
    try:
        return post()
    except InsufficientStock as exc:
        if issues:
            short_pick_from_refusal(exc, actor=request.user, source="api")
        raise


def quantity_field(**kwargs: Any) -> QuantityField:
    return QuantityField(max_digits=QUANTITY_DIGITS, **kwargs)


def unit_cost_field() -> QuantityField:
    return QuantityField(max_digits=UNIT_COST_DIGITS, min_value=Decimal(0), required=False, allow_null=True)


class UnknownLot(ApiError):
    default_code = "unknown_lot"


class LedgerFilterSet(NamingFilterSet):
    """``NamingFilterSet`` plus lots: ``method="filter_lot"`` names a lot by code (exactly),
    among the lots the user may see (``stock.selectors.lots_visible``); none is ``unknown_lot``."""

    def filter_lot(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        lots = lots_visible(Lot.objects.filter(code=value.strip()), self.request.user)
        if not lots.exists():
            raise UnknownLot(f"No lot you may view has the code {value!r}.", lot=value, field="lot")
        return queryset.filter(**{f"{name}__in": lots})


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
        # ``key`` comes from ``idempotent``, which has just claimed it: no posting exists under it
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
            movements = stock_post_batch(  # ``key`` just claimed by ``idempotent``: fresh
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

    def line_request(
        self, line: dict, index: int, warehouse: Warehouse, document: dict, item: Item | None
    ) -> StockRequest:
        location = None
        if line.get("location"):
            location = location_from_reference(line["location"], warehouse, field="location", line=index)
        return StockRequest(
            kind=MovementKind.ISSUE,
            item=item_named(item, line["sku"], line=index),
            quantity=line["quantity"],
            source=location,
            warehouse=warehouse,
            lot=line.get("lot") or None,
            note=document.get("note", ""),
            reference_type="api.sale",
            reference_id=document["reference"],
            reference_line=str(index + 1),
            pick=True,
        )

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

    def line_request(
        self, line: dict, index: int, warehouse: Warehouse, document: dict, item: Item | None
    ) -> StockRequest:
        location = None
        if line.get("location"):
            location = location_from_reference(line["location"], warehouse, field="location", line=index)
        return StockRequest(
            kind=MovementKind.CUSTOMER_RETURN,
            item=item_named(item, line["sku"], line=index),
            quantity=line["quantity"],
            destination=location,
            warehouse=warehouse,
            lot=line.get("lot") or None,
            expiry_date=line.get("expiry"),
            unit_cost=line.get("unit_cost"),
            reason_code=document.get("reason", "").strip(),
            note=document.get("note", ""),
            reference_type="api.return",
            reference_id=document["reference"],
            reference_line=str(index + 1),
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

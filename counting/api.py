"""REST API of cycle counting (docs/api.md, "Counts"; docs/counting.md).

``/api/v1/counts/``: list (``?warehouse=&status=``) and start counts; ``<id>/`` one count with its
lines; ``<id>/lines/`` record a counted line (``Idempotency-Key`` honoured); ``<id>/submit/``;
``<id>/lines/<line>/approve/`` and ``/reject/`` with a ``reason``. As in ``purchasing.api``: a
nested ``InputSerializer`` validates, ``catalog.api``'s look-ups name items, warehouses and
locations, one service of ``counting.services`` runs with ``actor=request.user`` (it checks the
role and the warehouse), lists are scoped to the user's warehouses and another warehouse's count
is a 404. A blind count shows no book quantity or variance until it is submitted (they do not
exist before: submitting measures them as of each line's ``counted_at``).
"""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import NamingFilterSet, item_from_reference, location_from_reference, warehouse_from_code
from catalog.models import UnitOfMeasure
from catalog.permissions import WarehouseAction, scope_to_warehouses, warehouse_allows
from common.api.errors import ApiError
from common.api.fields import decimal_string
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from stock.api import MAX_LINES, UnknownLot, quantity_field
from stock.models import StockLevel
from stock.selectors import lot_by_code

from .models import Count, CountLine, CountStatus, LineStatus, ReasonCode
from .services import count_line_approve, count_line_record, count_line_reject, count_start, count_submit


class UnknownUnit(ApiError):
    default_code = "unknown_unit"


@extend_schema_serializer(component_name="CountLine")
class LineOutputSerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="location.code")
    sku = serializers.CharField(source="item.sku")
    lot = serializers.CharField(source="lot.code", default=None, allow_null=True)
    counted_by = serializers.CharField(source="counted_by.username", default=None, allow_null=True)
    book_quantity = serializers.SerializerMethodField(help_text="As of counted_at; hidden on a blind open count.")
    reason = serializers.CharField(source="reason_code")
    recount_line = serializers.IntegerField(
        source="recount_line_id", allow_null=True, help_text="The line it waits for."
    )
    movement = serializers.IntegerField(source="movement_id", allow_null=True)

    class Meta:
        model = CountLine
        fields = [
            "id",
            "location",
            "sku",
            "lot",
            "expected",
            "status",
            "counted_quantity",
            "counted_at",
            "counted_by",
            "book_quantity",
            "variance",
            "variance_value",
            "reason",
            "recount_line",
            "movement",
        ]

    def to_representation(self, line: CountLine) -> dict:
        """A line waiting for a recount shows its count, book and variance only to the clerk who
        counted it and to those who decide variances there (``counting.change_countline`` and
        "approve"): the other clerk, who recounts it, counts blind, not towards the first number."""
        data = super().to_representation(line)
        if line.status == LineStatus.RECOUNT and not self._sees_recount_numbers(line):
            data.update(counted_quantity=None, book_quantity=None, variance=None, variance_value=None)
        return data

    def _sees_recount_numbers(self, line: CountLine) -> bool:
        user = getattr(self.context.get("request"), "user", None)
        if user is None or user.pk == line.counted_by_id:
            return user is not None
        deciders = self.context.setdefault("deciders", {})  # warehouse id -> may decide (one look-up each)
        warehouse_id = line.location.warehouse_id
        if warehouse_id not in deciders:
            deciders[warehouse_id] = user.has_perm("counting.change_countline") and warehouse_allows(
                user, warehouse_id, WarehouseAction.APPROVE
            )
        return deciders[warehouse_id]

    def get_book_quantity(self, line: CountLine) -> str | None:
        value = line.book_quantity if line.book_quantity is not None else getattr(line, "on_hand_now", None)
        return None if value is None else decimal_string(value)


@extend_schema_serializer(component_name="Count")
class CountOutputSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code")
    zone = serializers.CharField(source="zone.code", default=None, allow_null=True)
    assigned_to = serializers.CharField(source="assigned_to.username", default=None, allow_null=True)
    lines = LineOutputSerializer(many=True)

    class Meta:
        model = Count
        fields = ["id", "warehouse", "kind", "status", "blind", "planned_for", "zone", "assigned_to", "created_at"]
        fields += ["submitted_at", "lines"]


def _lines_of(count: Count | None = None) -> QuerySet[CountLine]:
    """Lines with what the output shows; an open count that is not blind also shows the bin's
    current on-hand as its book quantity (a blind one never does)."""
    lines = CountLine.objects.select_related("location", "item", "lot", "counted_by").order_by(
        "location__code", "item__sku", "pk"
    )
    if count is not None and not count.blind and count.status == CountStatus.OPEN:
        on_hand = StockLevel.objects.filter(item_id=OuterRef("item_id"), location_id=OuterRef("location_id"))
        on_hand = on_hand.annotate(lot_key=Coalesce("lot_id", Value(0))).filter(
            lot_key=Coalesce(OuterRef("lot_id"), Value(0))
        )
        lines = lines.annotate(on_hand_now=Subquery(on_hand.values("item_id").annotate(s=Sum("on_hand")).values("s")))
    return lines


class CountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Cycle counts: start one, record what was counted, submit, approve or reject variances."""

    class Filter(NamingFilterSet):
        warehouse = filters.CharFilter(field_name="warehouse", method="filter_warehouse", help_text="Warehouse code.")
        status = filters.ChoiceFilter(choices=CountStatus.choices)

        class Meta:
            model = Count
            fields = ["warehouse", "status"]

    @extend_schema_serializer(component_name="NewCount")
    class InputSerializer(serializers.Serializer):
        warehouse = serializers.CharField(max_length=20)
        locations = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, max_length=MAX_LINES, help_text="Bin codes."
        )
        items = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, max_length=MAX_LINES, help_text="SKUs."
        )
        blind = serializers.BooleanField(default=True)

    @extend_schema_serializer(component_name="CountedLine")
    class LineInputSerializer(serializers.Serializer):
        location = serializers.CharField(max_length=64, help_text="Code or barcode of a bin on the count.")
        sku = serializers.CharField(max_length=64, help_text="SKU or barcode of the item.")
        lot = serializers.CharField(max_length=64, required=False, allow_blank=True)
        quantity = quantity_field(min_value=0, help_text="What is there, in the base unit unless `unit` says.")
        unit = serializers.CharField(
            max_length=20, required=False, allow_blank=True, help_text="Unit code counted in (a pack unit)."
        )
        counted_at = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema_serializer(component_name="CountDecision")
    class DecisionInputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(choices=ReasonCode.choices)
        note = serializers.CharField(max_length=500, required=False, allow_blank=True)
        recount = serializers.BooleanField(default=False, help_text="Reject only: order another recount.")

    required_permissions = {
        "list": ["counting.view_count"],
        "retrieve": ["counting.view_count"],
        "create": ["counting.add_count"],
        "lines": ["counting.change_count"],
        "submit": ["counting.change_count"],
        "approve": ["counting.change_countline"],
        "reject": ["counting.change_countline"],
    }
    serializer_class = CountOutputSerializer
    filterset_class = Filter
    queryset = Count.objects.select_related("warehouse", "zone", "assigned_to")

    def get_queryset(self) -> QuerySet[Count]:
        scoped = scope_to_warehouses(self.queryset, self.request.user, "warehouse").order_by("-id")
        if self.action == "list":
            return scoped.prefetch_related(Prefetch("lines", queryset=_lines_of()))
        return scoped

    def _output(self, count: Count) -> dict:
        count = self.queryset.get(pk=count.pk)
        context = self.get_serializer_context()
        data = CountOutputSerializer(count, context=context).data
        data["lines"] = LineOutputSerializer(_lines_of(count).filter(count=count), many=True, context=context).data
        return data

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        """One count with each line's status; after submitting, its book quantity as of
        ``counted_at`` and its ``variance``."""
        return Response(self._output(self.get_object()))

    @extend_schema(
        request=InputSerializer,
        responses={201: CountOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[OpenApiExample("Two bins", value={"warehouse": "AMS", "locations": ["A-01-01", "A-01-02"]})],
    )
    def create(self, request: Request) -> Response:
        """Start a count of bins and/or items now (a manager's): 201 with its lines to count."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def write(key: str | None) -> Response:
            warehouse = warehouse_from_code(data["warehouse"])
            count = count_start(
                warehouse=warehouse,
                locations=[
                    location_from_reference(code, warehouse, field="locations", line=n)
                    for n, code in enumerate(data.get("locations", []), start=1)
                ],
                items=[item_from_reference(sku, line=n) for n, sku in enumerate(data.get("items", []), start=1)],
                blind=data["blind"],
                actor=request.user,
            )
            return Response(self._output(count), status=status.HTTP_201_CREATED)

        return idempotent(request, write)

    @extend_schema(
        request=LineInputSerializer,
        responses={201: LineOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[OpenApiExample("Counted", value={"location": "A-01-01", "sku": "KNF-001", "quantity": "12"})],
    )
    @action(detail=True, methods=["post"])
    def lines(self, request: Request, pk: str | None = None) -> Response:
        """Record what was counted of an item (and lot) in a bin of the count; again replaces it."""
        count = self.get_object()
        serializer = self.LineInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def write(key: str | None) -> Response:
            item = item_from_reference(data["sku"])
            lot = None
            if code := data.get("lot", "").strip():
                lot = lot_by_code(code, item=item)
                if lot is None:
                    raise UnknownLot(f"{item.sku} has no lot {code!r}.", lot=code, field="lot")
            unit = None
            if code := data.get("unit", "").strip():
                unit = UnitOfMeasure.objects.filter(code__iexact=code).first()
                if unit is None:
                    raise UnknownUnit(f"No unit has the code {code!r}.", unit=code, field="unit")
            line = count_line_record(
                count=count,
                unit=unit,
                location=location_from_reference(data["location"], count.warehouse),
                item=item,
                lot=lot,
                quantity=data["quantity"],
                counted_at=data.get("counted_at"),
                actor=request.user,
                idempotency_key=key,
            )
            return Response(
                LineOutputSerializer(_lines_of(count).get(pk=line.pk), context=self.get_serializer_context()).data,
                status=status.HTTP_201_CREATED,
            )

        return idempotent(request, write)

    @extend_schema(request=None, responses={200: CountOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        """Submit the count: each line posts within tolerance, goes to a recount, or waits."""
        count = self.get_object()
        return idempotent(request, lambda key: Response(self._output(count_submit(count=count, actor=request.user))))

    def _decide(self, request: Request, pk: str | None, line_id: str, decide) -> Response:  # noqa: ANN001
        count = self.get_object()
        line = get_object_or_404(CountLine.objects.all(), pk=line_id, count=count)
        serializer = self.DecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decide(line, serializer.validated_data)
        return Response(
            LineOutputSerializer(_lines_of(count).get(pk=line.pk), context=self.get_serializer_context()).data
        )

    @extend_schema(
        request=DecisionInputSerializer, responses={200: LineOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    @action(detail=True, methods=["post"], url_path=r"lines/(?P<line_id>\d+)/approve")
    def approve(self, request: Request, line_id: str, pk: str | None = None) -> Response:
        """Approve a waiting variance with a reason code: it posts, dated when it was counted."""

        def decide(line: CountLine, data: dict) -> None:
            count_line_approve(line=line, actor=request.user, reason=data["reason"], note=data.get("note", ""))

        return idempotent(request, lambda key: self._decide(request, pk, line_id, decide))

    @extend_schema(
        request=DecisionInputSerializer, responses={200: LineOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER]
    )
    @action(detail=True, methods=["post"], url_path=r"lines/(?P<line_id>\d+)/reject")
    def reject(self, request: Request, line_id: str, pk: str | None = None) -> Response:
        """Reject a variance with a reason code: stock stays; ``recount`` orders another recount."""

        def decide(line: CountLine, data: dict) -> None:
            count_line_reject(
                line=line, actor=request.user, reason=data["reason"], note=data.get("note", ""), recount=data["recount"]
            )

        return idempotent(request, lambda key: self._decide(request, pk, line_id, decide))

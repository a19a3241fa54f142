"""REST API of purchasing (docs/api.md, docs/purchasing.md): suppliers (read), purchase orders
(list, create a draft, place, cancel, receive, return to the supplier, send to the supplier) and
the reorder suggestions.

As in ``stock.api``: a nested ``InputSerializer`` validates, ``catalog.api``'s look-ups name
items, warehouses and locations, one service of ``purchasing.services`` runs with
``actor=request.user`` (it checks the role and the warehouse), a nested output answers, writes
go through ``common.api.idempotency.idempotent``, lists are scoped to the user's warehouses and
another warehouse's order is a 404. Receiving needs only the warehouse's "receive purchase
orders" grant (a clerk's), which the service checks; reading orders to receive them needs
``purchasing.view_purchaseorder`` or ``stock.add_movement``.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import (
    NamingFilterSet,
    item_from_reference,
    location_from_reference,
    viewable_warehouse_from_code,
    warehouse_from_code,
)
from catalog.permissions import scope_to_warehouses
from common.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from stock.api import MAX_LINES, POSITIVE, MovementOutputSerializer, quantity_field, unit_cost_field

from .documents import purchase_order_send
from .models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderStatus, Supplier
from .returns import purchase_order_return
from .selectors import Suggestion, reorder_suggestions
from .services import (
    OrderLine,
    PurchasingError,
    Receipt,
    purchase_order_cancel,
    purchase_order_create,
    purchase_order_place,
    purchase_order_receive,
)
from .transfers import TransferSuggestion, transfer_suggestions


class UnknownSupplier(PurchasingError):
    code = "unknown_supplier"


def supplier_from_code(code: str) -> Supplier:
    supplier = Supplier.objects.filter(code__iexact=code.strip()).first()
    if supplier is None:
        raise UnknownSupplier(f"No supplier has the code {code!r}.")
    return supplier


def _each_line(lines: list[dict], line_serializer: type[serializers.Serializer]) -> list[dict]:
    """Every line validated by ``line_serializer``; the errors name the line (1-based)."""
    checked = []
    for number, line in enumerate(lines, start=1):
        serializer = line_serializer(data=line)
        if not serializer.is_valid():
            raise serializers.ValidationError({f"line {number}": serializer.errors})
        checked.append(serializer.validated_data)
    return checked


class SupplierViewSet(viewsets.ReadOnlyModelViewSet):
    """Suppliers, with their default lead time."""

    @extend_schema_serializer(component_name="Supplier")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Supplier
            fields = ["id", "code", "name", "email", "phone", "lead_time_days", "active"]

    serializer_class = OutputSerializer
    queryset = Supplier.objects.order_by("code")
    filterset_fields = ["active"]


@extend_schema_serializer(component_name="PurchaseOrderLine")
class LineOutputSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="item.sku")
    outstanding = serializers.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        model = PurchaseOrderLine
        fields = ["id", "sku", "quantity", "unit_cost", "received_quantity", "outstanding"]


@extend_schema_serializer(component_name="PurchaseOrder")
class OrderOutputSerializer(serializers.ModelSerializer):
    number = serializers.CharField()
    supplier = serializers.CharField(source="supplier.code")
    warehouse = serializers.CharField(source="warehouse.code")
    lines = LineOutputSerializer(many=True)
    total = serializers.DecimalField(max_digits=22, decimal_places=4, help_text="Sum of quantity x unit cost.")
    sent_at = serializers.SerializerMethodField(help_text="When it was last mailed to the supplier (null: never).")

    class Meta:
        model = PurchaseOrder
        fields = ["id", "number", "supplier", "warehouse", "status", "expected_on", "ordered_at", "notes", "total"]
        fields += ["sent_at", "lines"]

    def get_sent_at(self, order: PurchaseOrder) -> datetime | None:
        sent = [s.sent_at for s in order.sendings.all() if not s.error]
        return max(sent, default=None)


class CanReadOrders(BasePermission):
    """Reading orders: ``purchasing.view_purchaseorder``, or the right to post movements (a
    clerk reads the order in front of them to receive it; the list is scoped anyway)."""

    def has_permission(self, request: Request, view: object) -> bool:
        user = request.user
        return bool(user and user.is_authenticated) and (
            user.has_perm("purchasing.view_purchaseorder") or user.has_perm("stock.add_movement")
        )


class PurchaseOrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Purchase orders: create a draft, place it, cancel it, receive what arrives."""

    class Filter(NamingFilterSet):
        status = filters.ChoiceFilter(choices=PurchaseOrderStatus.choices)
        warehouse = filters.CharFilter(field_name="warehouse", method="filter_warehouse", help_text="Warehouse code.")
        supplier = filters.CharFilter(method="filter_supplier", help_text="Supplier code.")

        class Meta:
            model = PurchaseOrder
            fields = ["status", "warehouse", "supplier"]

        def filter_supplier(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
            return queryset.filter(supplier=supplier_from_code(value))

    @extend_schema_serializer(component_name="NewPurchaseOrderLine")
    class LineInputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=64, help_text="SKU or barcode of the item.")
        quantity = quantity_field(min_value=POSITIVE, help_text="Base units.")
        unit_cost = unit_cost_field()

    @extend_schema_serializer(component_name="NewPurchaseOrder")
    class InputSerializer(serializers.Serializer):
        supplier = serializers.CharField(max_length=20, help_text="Supplier code.")
        warehouse = serializers.CharField(max_length=20)
        expected_on = serializers.DateField(required=False, allow_null=True)
        notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)
        lines = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_LINES)

        def validate_lines(self, lines: list[dict]) -> list[dict]:
            return _each_line(lines, PurchaseOrderViewSet.LineInputSerializer)

    @extend_schema_serializer(component_name="ReceiptLine")
    class ReceiptInputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=64, help_text="SKU or barcode of an item on the order.")
        quantity = quantity_field(min_value=POSITIVE)
        location = serializers.CharField(max_length=64, help_text="Code or barcode of a location of the warehouse.")
        lot = serializers.CharField(max_length=64, required=False, allow_blank=True)
        expiry_date = serializers.DateField(required=False, allow_null=True)

    @extend_schema_serializer(component_name="Receiving")
    class ReceiveInputSerializer(serializers.Serializer):
        lines = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_LINES)

        def validate_lines(self, lines: list[dict]) -> list[dict]:
            return _each_line(lines, PurchaseOrderViewSet.ReceiptInputSerializer)

    @extend_schema_serializer(component_name="Received")
    class ReceivedOutputSerializer(serializers.Serializer):
        order = OrderOutputSerializer()
        movements = MovementOutputSerializer(many=True)

    required_permissions = {
        "place": ["purchasing.change_purchaseorder"],
        "cancel": ["purchasing.change_purchaseorder"],
        "send": ["purchasing.change_purchaseorder"],
    }
    serializer_class = OrderOutputSerializer
    filterset_class = Filter
    queryset = PurchaseOrder.objects.select_related("supplier", "warehouse").prefetch_related(
        Prefetch("lines", queryset=PurchaseOrderLine.objects.select_related("item")), "sendings"
    )

    def get_permissions(self) -> list[BasePermission]:
        if self.action in ("list", "retrieve", "receive", "return_goods"):
            return [CanReadOrders()]
        return super().get_permissions()

    def get_queryset(self) -> QuerySet[PurchaseOrder]:
        return scope_to_warehouses(self.queryset, self.request.user, "warehouse").order_by("-id")

    def _output(self, order: PurchaseOrder) -> dict:
        return OrderOutputSerializer(self.queryset.get(pk=order.pk)).data

    @extend_schema(
        request=InputSerializer,
        responses={201: OrderOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "A draft",
                value={"supplier": "NORDIC", "warehouse": "AMS", "lines": [{"sku": "KNF-001", "quantity": "24"}]},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request) -> Response:
        """A draft order (each item once; unit cost default: the supplier's price)."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def write(key: str | None) -> Response:
            order = purchase_order_create(
                supplier=supplier_from_code(data["supplier"]),
                warehouse=warehouse_from_code(data["warehouse"]),
                lines=[
                    OrderLine(item_from_reference(line["sku"], line=n), line["quantity"], line.get("unit_cost"))
                    for n, line in enumerate(data["lines"], start=1)
                ],
                actor=request.user,
                expected_on=data.get("expected_on"),
                notes=data.get("notes", ""),
            )
            return Response(self._output(order), status=status.HTTP_201_CREATED)

        return idempotent(request, write)

    @extend_schema(request=None, responses={200: OrderOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def place(self, request: Request, pk: str | None = None) -> Response:
        """Draft -> ordered (the lines are fixed from now on)."""
        order = self.get_object()
        return idempotent(
            request, lambda key: Response(self._output(purchase_order_place(order=order, actor=request.user)))
        )

    @extend_schema(request=None, responses={200: OrderOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a draft, or an order of which nothing was received."""
        order = self.get_object()
        return idempotent(
            request, lambda key: Response(self._output(purchase_order_cancel(order=order, actor=request.user)))
        )

    @extend_schema(request=None, responses={200: OrderOutputSerializer}, parameters=[IDEMPOTENCY_PARAMETER])
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: str | None = None) -> Response:
        """Mail the placed order (PDF attached) to the supplier again; recorded on the order."""
        order = self.get_object()
        return idempotent(
            request,
            lambda key: Response(self._output(purchase_order_send(order=order, actor=request.user).order)),
        )

    @extend_schema_serializer(component_name="SupplierReturn")
    class ReturnInputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=64, help_text="SKU or barcode of a received item of the order.")
        quantity = quantity_field(min_value=POSITIVE)
        location = serializers.CharField(max_length=64, help_text="Bin (code or barcode) it leaves from.")
        reason_code = serializers.CharField(max_length=40, help_text="Why it goes back: damaged, wrong item, ...")
        lot = serializers.CharField(max_length=64, required=False, allow_blank=True)

    @extend_schema(
        request=ReturnInputSerializer,
        responses={201: MovementOutputSerializer(many=True)},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"], url_path="return")
    def return_goods(self, request: Request, pk: str | None = None) -> Response:
        """Send received goods back to the supplier (a supplier-return movement referencing the line)."""
        order = self.get_object()
        serializer = self.ReturnInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def write(key: str | None) -> Response:
            item = item_from_reference(data["sku"])
            line = order.lines.filter(item=item).first()
            if line is None:
                raise PurchasingError(f"{item.sku} is not on {order.number}.")
            movements = purchase_order_return(
                order=order,
                line=line,
                quantity=data["quantity"],
                location=location_from_reference(data["location"], order.warehouse),
                actor=request.user,
                reason_code=data["reason_code"],
                lot=data.get("lot", ""),
                idempotency_key=key,
            )
            return Response(MovementOutputSerializer(movements, many=True).data, status=status.HTTP_201_CREATED)

        return idempotent(request, write)

    @extend_schema(
        request=ReceiveInputSerializer,
        responses={201: ReceivedOutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample(
                "Part of a delivery",
                value={"lines": [{"sku": "KNF-001", "quantity": "12", "location": "A-01-01"}]},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def receive(self, request: Request, pk: str | None = None) -> Response:
        """Receive what arrived: one receipt per line, at the order's cost, all or nothing."""
        order = self.get_object()
        serializer = self.ReceiveInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def write(key: str | None) -> Response:
            by_item = {line.item_id: line for line in order.lines.all()}
            receipts = []
            for number, data in enumerate(serializer.validated_data["lines"], start=1):
                item = item_from_reference(data["sku"], line=number)
                line = by_item.get(item.pk)
                if line is None:
                    raise PurchasingError(f"Line {number}: {item.sku} is not on {order.number}.")
                location = location_from_reference(data["location"], order.warehouse, line=number)
                receipts.append(Receipt(line, data["quantity"], location, data.get("lot", ""), data.get("expiry_date")))
            movements = purchase_order_receive(order=order, receipts=receipts, actor=request.user, idempotency_key=key)
            body = {"order": self._output(order), "movements": MovementOutputSerializer(movements, many=True).data}
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request, write)


class ReorderSuggestionApi(APIView):
    """What to reorder now in the user's warehouses (docs/purchasing.md): items whose available
    plus on-order stock is at or below the reorder point, urgent ones first."""

    required_permissions = {"GET": ["purchasing.view_reorderpolicy"]}

    @extend_schema_serializer(component_name="ReorderSuggestion")
    class OutputSerializer(serializers.Serializer):
        sku = serializers.CharField(source="item.sku")
        warehouse = serializers.CharField(source="warehouse.code")
        available = serializers.DecimalField(max_digits=18, decimal_places=4)
        on_order = serializers.DecimalField(max_digits=18, decimal_places=4)
        reorder_point = serializers.DecimalField(source="policy.reorder_point", max_digits=18, decimal_places=4)
        safety_stock = serializers.DecimalField(source="policy.safety_stock", max_digits=18, decimal_places=4)
        quantity = serializers.DecimalField(max_digits=18, decimal_places=4, help_text="Suggested, base units.")
        forecast_daily_demand = serializers.DecimalField(
            max_digits=18, decimal_places=4, allow_null=True, help_text="Forecast demand a day (null: no forecast yet)."
        )
        order_quantity = serializers.DecimalField(
            source="policy.order_quantity",
            max_digits=18,
            decimal_places=4,
            allow_null=True,
            help_text="Computed policies: the EOQ rounded to the offer (null for manual policies).",
        )
        service_level = serializers.DecimalField(source="policy.service_level", max_digits=5, decimal_places=4)
        mode = serializers.CharField(source="policy.mode", help_text="manual or computed.")
        explain = serializers.DictField(
            child=serializers.CharField(), help_text="Figure -> how it was reached (docs/replenishment.md)."
        )
        urgent = serializers.BooleanField()
        transfer_from = serializers.SerializerMethodField(help_text="A warehouse with surplus to transfer from first.")
        transfer_quantity = serializers.SerializerMethodField(help_text="How much to transfer from it (base units).")
        supplier = serializers.CharField(source="supplier_item.supplier.code", allow_null=True, default=None)
        unit_cost = serializers.DecimalField(
            source="supplier_item.unit_cost", max_digits=20, decimal_places=4, allow_null=True, default=None
        )

        def _transfer(self, suggestion: Suggestion) -> TransferSuggestion | None:
            return self.context["transfers"].get(suggestion.policy.pk)

        def get_transfer_from(self, suggestion: Suggestion) -> str | None:
            transfer = self._transfer(suggestion)
            return transfer.from_warehouse.code if transfer else None

        @extend_schema_field(serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True))
        def get_transfer_quantity(self, suggestion: Suggestion) -> str | None:
            transfer = self._transfer(suggestion)
            return f"{transfer.quantity:.4f}" if transfer else None

        def to_representation(self, suggestion: Suggestion) -> dict:
            data = super().to_representation(suggestion)
            if transfer := self._transfer(suggestion):
                data["explain"]["transfer"] = transfer.explain
            return data

    @extend_schema(
        responses={200: OutputSerializer(many=True)},
        parameters=[OpenApiParameter("warehouse", str, description="Only this warehouse (code).")],
    )
    def get(self, request: Request) -> Response:
        code = request.query_params.get("warehouse", "")
        warehouse = viewable_warehouse_from_code(code, request.user) if code.strip() else None
        suggestions = reorder_suggestions(user=request.user, warehouse=warehouse)
        transfers = {t.suggestion.policy.pk: t for t in transfer_suggestions(suggestions, user=request.user)}
        return Response(self.OutputSerializer(suggestions, many=True, context={"transfers": transfers}).data)

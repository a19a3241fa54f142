"""REST API of the master data (docs/api.md): items, categories, warehouses and locations, read
only (master data is kept in the admin and by CSV imports), and the look-ups every writing
endpoint uses to name things: items by SKU or barcode, warehouses by code, locations by code
within their warehouse or by barcode.

Reading needs the role's ``view`` permission of the model (``common.api.permissions.ModelPermissions``);
warehouses and locations are further scoped to the warehouses where the user may view stock,
so another warehouse's object by id is a 404.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Prefetch, Q, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers, viewsets

from catalog.models import (
    PATH_SEPARATOR,
    Barcode,
    Category,
    Item,
    ItemStatus,
    Location,
    LocationKind,
    Tracking,
    Warehouse,
    normalize_code,
    normalize_sku,
)
from catalog.permissions import WarehouseAction, scope_to_warehouses, warehouse_allows, warehouses_for
from catalog.selectors import item_by_code, location_by_code, warehouse_and_items_by_code, warehouse_by_code
from common.actors import Actor
from common.api.errors import ApiError

# --- Look-ups used by the writing endpoints -------------------------------------------------------


class UnknownSku(ApiError):
    default_code = "unknown_sku"


class UnknownWarehouse(ApiError):
    default_code = "unknown_warehouse"


class UnknownLocation(ApiError):
    default_code = "unknown_location"


def item_from_reference(reference: str, *, line: int | None = None) -> Item:
    """The item ``reference`` names by the shared look-up rule (``catalog.selectors.item_by_code``:
    SKU as stored, barcode exact, SKU ignoring case; the floor uses it too); ``unknown_sku`` if none."""
    return item_named(item_by_code(reference), reference, line=line)


def item_named(item: Item | None, reference: str, *, line: int | None = None) -> Item:
    """``item``, the one ``reference`` named (looked up by ``warehouse_and_items``); ``unknown_sku`` if none."""
    if item is None:
        extra = {"line": line} if line is not None else {}
        raise UnknownSku(f"No item has the SKU or barcode {reference!r}.", sku=reference, **extra)
    return item


def warehouse_from_code(code: str, *, field: str = "warehouse") -> Warehouse:
    """The warehouse with this code (ignoring case); ``unknown_warehouse`` if none."""
    return _warehouse_named(warehouse_by_code(code), code, field=field)


def warehouse_and_items(code: str, references: Sequence[str]) -> tuple[Warehouse, list[Item | None]]:
    """``warehouse_from_code(code)`` and the item each of ``references`` names (None for none:
    ``item_named`` refuses it when its line is built, so errors come in the order of the lines),
    in ONE statement (``catalog.selectors.warehouse_and_items_by_code``): a sale's look-ups."""
    warehouse, items = warehouse_and_items_by_code(code, references)
    return _warehouse_named(warehouse, code, field="warehouse"), items


def _warehouse_named(warehouse: Warehouse | None, code: str, *, field: str) -> Warehouse:
    if warehouse is None:
        raise UnknownWarehouse(f"No warehouse has the code {code!r}.", warehouse=code, field=field)
    return warehouse


def location_from_reference(
    reference: str, warehouse: Warehouse | None, *, field: str = "location", line: int | None = None
) -> Location:
    """The internal location ``reference`` names by the shared look-up rule
    (``catalog.selectors.location_by_code``: a barcode exactly, unique everywhere, else a code of
    ``warehouse`` ignoring case; the floor uses it too); ``unknown_location`` if none is internal."""
    location = location_by_code(reference, warehouse)
    if location is None or location.kind != LocationKind.INTERNAL:
        where = f" in warehouse {warehouse.code}" if warehouse is not None else ""
        extra = {"line": line} if line is not None else {}
        raise UnknownLocation(
            f"No location has the code{where} or the barcode {reference!r}.", location=reference, field=field, **extra
        )
    return location


def viewable_warehouse_from_code(code: str, user: Actor | None, *, field: str = "warehouse") -> Warehouse:
    """The warehouse a list filter names, for a user who may view its stock; ``unknown_warehouse``
    otherwise. A warehouse the user may not view gets the same answer, word for word, as one that
    does not exist: a filter never tells whether a warehouse the user may not see exists."""
    warehouse = warehouse_by_code(code)
    if warehouse is None or not warehouse_allows(user, warehouse, WarehouseAction.VIEW):
        raise UnknownWarehouse(
            f"No warehouse has the code {code!r} among those whose stock you may view.", warehouse=code, field=field
        )
    return warehouse


class NamingFilterSet(filters.FilterSet):
    """Filters that NAME something else (a warehouse, an item, a bin) rather than search the
    listed rows: an unknown name is a 400 in the API's error contract (``unknown_warehouse``,
    ``unknown_sku``, ``unknown_location``), never an empty 200 that reads as "nothing there".
    Names follow the shared look-up rule (docs/api.md, "Naming things"); a warehouse or bin the
    user may not view is answered as unknown. Declare a filter with ``method="filter_warehouse"``
    (or ``filter_sku``, ``filter_location``) and ``field_name`` the lookup of the row's
    warehouse (item, location): ``name`` below. An empty parameter is no filter."""

    def filter_warehouse(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(**{name: viewable_warehouse_from_code(value, self.request.user)})

    def filter_sku(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(**{name: item_from_reference(value)})

    def filter_location(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """The bin by barcode, else by code within the ``warehouse`` parameter; ``name`` is the
        row's location id lookup: the bin's sub-locations are included."""
        code = self.data.get("warehouse", "")
        warehouse = viewable_warehouse_from_code(code, self.request.user) if code.strip() else None
        location = location_by_code(value, warehouse)
        if (
            location is None
            or location.kind != LocationKind.INTERNAL
            or not warehouse_allows(self.request.user, location.warehouse_id, WarehouseAction.VIEW)
        ):
            where = f" in warehouse {warehouse.code}" if warehouse is not None else ""
            raise UnknownLocation(
                f"No location you may view has the code{where} or the barcode {value!r}.",
                location=value,
                field="location",
            )
        return queryset.filter(**{f"{name}__in": location.descendant_ids()})


# --- Items ----------------------------------------------------------------------------------------


class ItemFilter(filters.FilterSet):
    sku = filters.CharFilter(method="filter_sku", help_text="Exact SKU, ignoring case.")
    barcode = filters.CharFilter(method="filter_barcode", help_text="One of the item's barcodes.")
    category = filters.NumberFilter(method="filter_category", help_text="Category id, sub-categories included.")
    status = filters.ChoiceFilter(choices=ItemStatus.choices)
    tracking = filters.ChoiceFilter(choices=Tracking.choices)
    search = filters.CharFilter(method="filter_search", help_text="Part of the SKU or the name.")

    class Meta:
        model = Item
        fields = ["sku", "barcode", "category", "status", "tracking", "search"]

    def filter_sku(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        return queryset.filter(sku__iexact=normalize_sku(value))

    def filter_barcode(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        return queryset.filter(barcodes__code=normalize_code(value))

    def filter_category(self, queryset: QuerySet[Item], name: str, value: object) -> QuerySet[Item]:
        path = Category.objects.filter(pk=value).values_list("path", flat=True).first()
        if path is None:
            return queryset.none()
        return queryset.filter(Q(category__path=path) | Q(category__path__startswith=path + PATH_SEPARATOR))

    def filter_search(self, queryset: QuerySet[Item], name: str, value: str) -> QuerySet[Item]:
        return queryset.filter(Q(sku__icontains=value.strip()) | Q(name__icontains=value.strip()))


class ItemViewSet(viewsets.ReadOnlyModelViewSet):
    """Items (SKUs), with their barcodes; filter by SKU, barcode, category, status."""

    @extend_schema_serializer(component_name="Item")
    class OutputSerializer(serializers.ModelSerializer):
        category_path = serializers.CharField(source="category.path", allow_null=True, default=None)
        base_unit = serializers.CharField(source="base_unit.code")
        barcodes = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")

        class Meta:
            model = Item
            fields = [
                "id",
                "sku",
                "name",
                "description",
                "category",
                "category_path",
                "base_unit",
                "status",
                "discontinued_on",
                "tracking",
                "perishable",
                "shelf_life_days",
                "standard_cost",
                "valuation_method",
                "barcodes",
                "updated_at",
            ]

    serializer_class = OutputSerializer
    filterset_class = ItemFilter
    queryset = (
        Item.objects.select_related("category", "base_unit")
        .prefetch_related(Prefetch("barcodes", queryset=Barcode.objects.order_by("code")))
        .order_by("sku")
    )


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """The category tree; ``path`` is the full name from the root."""

    @extend_schema_serializer(component_name="Category")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Category
            fields = ["id", "name", "parent", "path", "valuation_method"]

    serializer_class = OutputSerializer
    queryset = Category.objects.order_by("path")
    filterset_fields = ["parent"]


# --- Warehouses and locations ---------------------------------------------------------------------


class WarehouseViewSet(viewsets.ReadOnlyModelViewSet):
    """Warehouses where the user may view stock."""

    @extend_schema_serializer(component_name="Warehouse")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Warehouse
            fields = ["id", "code", "name", "address", "time_zone", "allow_negative_stock", "active"]

    class Filter(filters.FilterSet):
        code = filters.CharFilter(field_name="code", lookup_expr="iexact")

        class Meta:
            model = Warehouse
            fields = ["code", "active"]

    serializer_class = OutputSerializer
    filterset_class = Filter
    queryset = Warehouse.objects.order_by("code")

    def get_queryset(self) -> QuerySet[Warehouse]:
        return self.queryset.filter(pk__in=warehouses_for(self.request.user, WarehouseAction.VIEW))


class LocationViewSet(viewsets.ReadOnlyModelViewSet):
    """Internal locations of the user's warehouses (code unique within its warehouse, barcode
    unique everywhere) and the virtual locations (suppliers, customers, loss/gain, scrap, transit)."""

    @extend_schema_serializer(component_name="Location")
    class OutputSerializer(serializers.ModelSerializer):
        warehouse = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

        class Meta:
            model = Location
            fields = ["id", "warehouse", "code", "name", "kind", "level", "parent", "barcode", "active"]

    class Filter(NamingFilterSet):
        warehouse = filters.CharFilter(field_name="warehouse", method="filter_warehouse", help_text="Warehouse code.")
        code = filters.CharFilter(field_name="code", lookup_expr="iexact")
        barcode = filters.CharFilter(field_name="barcode")

        class Meta:
            model = Location
            fields = ["warehouse", "code", "barcode", "kind", "level", "active"]

    serializer_class = OutputSerializer
    filterset_class = Filter
    queryset = Location.objects.select_related("warehouse").order_by("warehouse__code", "code")

    def get_queryset(self) -> QuerySet[Location]:
        return scope_to_warehouses(self.queryset, self.request.user, "warehouse", include_unassigned=True)

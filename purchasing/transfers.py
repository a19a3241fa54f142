"""Transfers between warehouses for replenishment (docs/replenishment.md, "Transfers"): stock in
transit per warehouse, and transfers suggested before purchases.

Shipping and arriving are ``stock.services.transfer_ship`` / ``transfer_arrive`` (the ledger's
own: a shipment moves stock from a bin to the in-transit location, with the destination
warehouse's code in ``reference_line``; an arrival moves it on, with reference
``stock.shipment-arrival`` / the shipment's id). This module only reads them; the API
(``purchasing.api``) and the floor jobs (``purchasing.transfer_floor``) call those services.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db.models import Q, Sum

from catalog.models import Item, LocationKind, Warehouse
from catalog.permissions import warehouses_for
from common.actors import Actor
from stock.models import Movement, MovementKind
from stock.selectors import shipment_arrivals

from .models import DemandForecast, ReorderPolicy
from .selectors import Suggestion, best_offers, policies_with_position

ZERO = Decimal(0)


@dataclass(frozen=True)
class InTransit:
    """An open shipment: ``quantity`` of ``item`` left ``from_warehouse`` for ``to_warehouse``
    (code) and has not arrived yet (``shipped`` minus what arrived); ``value`` at its cost."""

    shipment: Movement
    item: Item
    from_warehouse: Warehouse
    to_warehouse: str
    shipped: Decimal
    quantity: Decimal
    value: Decimal


def stock_in_transit(*, user: Actor | None = None, warehouse: Warehouse | None = None) -> list[InTransit]:
    """Open shipments from or to the user's warehouses (or to/from ``warehouse``), oldest first:
    two queries (the shipments, their standing arrivals summed)."""
    transit = Q(kind=MovementKind.TRANSFER, destination__kind=LocationKind.TRANSIT, reversed_by__isnull=True)
    query = Movement.objects.filter(transit).select_related("item__base_unit", "source__warehouse")
    if user is not None:
        mine = warehouses_for(user)
        query = query.filter(Q(source__warehouse__in=mine) | Q(reference_line__in=mine.values("code")))
    if warehouse is not None:
        query = query.filter(Q(source__warehouse=warehouse) | Q(reference_line=warehouse.code))
    shipments = list(query.order_by("occurred_at", "id"))
    arrived = {
        row["reference_id"]: (row["quantity"], row["value"])
        for row in shipment_arrivals(s.pk for s in shipments)
        .values("reference_id")
        .annotate(quantity=Sum("quantity"), value=Sum("total_cost"))
    }
    found = []
    for shipment in shipments:
        quantity, value = arrived.get(str(shipment.pk), (ZERO, ZERO))
        source_warehouse = shipment.source.warehouse
        if shipment.quantity - quantity > 0 and source_warehouse is not None:  # a shipment leaves a bin
            found.append(
                InTransit(
                    shipment=shipment,
                    item=shipment.item,
                    from_warehouse=source_warehouse,
                    to_warehouse=shipment.reference_line,
                    shipped=shipment.quantity,
                    quantity=shipment.quantity - quantity,
                    value=shipment.total_cost - value,
                )
            )
    return found


@dataclass(frozen=True)
class TransferSuggestion:
    """Move ``quantity`` of ``item`` from ``from_warehouse`` (which holds more than its
    order-up-to level plus its forecast demand over the lead time) to the short warehouse of
    ``suggestion``, before buying it."""

    suggestion: Suggestion
    item: Item
    from_warehouse: Warehouse
    quantity: Decimal
    surplus: Decimal

    @property
    def explain(self) -> str:
        return (
            f"{self.from_warehouse.code} holds {self.surplus.normalize():f} more than it needs (order-up-to plus "
            f"forecast over the lead time): transfer {self.quantity.normalize():f} to "
            f"{self.suggestion.warehouse.code} before buying."
        )


def transfer_suggestions(suggestions: list[Suggestion], *, user: Actor | None = None) -> list[TransferSuggestion]:
    """For each due suggestion, the other warehouse (with a policy for the item, that the user
    may see) with the largest surplus: available - (order-up-to, else reorder point) - forecast
    per day x lead time days (the best offer's, else 0); the transfer is the smaller of the
    surplus and the suggested quantity, in whole steps of the item's unit."""
    items = {s.item.pk for s in suggestions}
    if not items:
        return []
    others = [p for p in policies_with_position(user) if p.item_id in items]
    forecasts = {(f.item_id, f.warehouse_id): f.daily_demand for f in DemandForecast.objects.filter(item_id__in=items)}
    offers = best_offers(list(items))
    found = []
    for suggestion in suggestions:
        offer = offers.get(suggestion.item.pk)
        days = offer.effective_lead_time_days if offer is not None else 0
        best: tuple[Decimal, ReorderPolicy] | None = None
        for policy in others:
            if policy.item_id != suggestion.item.pk or policy.warehouse_id == suggestion.warehouse.pk:
                continue
            keep = policy.order_up_to if policy.order_up_to is not None else policy.reorder_point
            keep += forecasts.get((policy.item_id, policy.warehouse_id), ZERO) * days
            surplus = policy.available - keep
            if surplus > 0 and (best is None or surplus > best[0]):
                best = (surplus, policy)
        if best is None:
            continue
        step = Decimal(1).scaleb(-suggestion.item.base_unit.decimal_places)
        quantity = min(best[0], suggestion.quantity).quantize(step, rounding=ROUND_FLOOR)
        if quantity > 0:
            found.append(TransferSuggestion(suggestion, suggestion.item, best[1].warehouse, quantity, best[0]))
    return found

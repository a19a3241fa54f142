"""Valuation: the cost each line takes out of or brings into a warehouse (moving average or
FIFO layers), staged under the valuation locks before anything is inserted, and saved after
the movements exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from catalog.models import Item, ValuationMethod

from ..models import (
    MONEY_STEP,
    ZERO,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Movement,
)
from .errors import InvalidMovement, _fmt
from .lines import MovementLine, ValuationKey, _warehouse_of
from .locks import _layers_save, _lock_valuations, _valuations_save


@dataclass
class _Costing:
    """What one line does to valuation, computed under lock before anything is inserted."""

    total_cost: Decimal = ZERO
    new_layers: list[CostLayer] = field(default_factory=list)
    consumptions: list[tuple[CostLayer, Decimal, Decimal]] = field(default_factory=list)


def _cost_lines(lines: list[MovementLine], *, create_missing: bool = True) -> list[_Costing]:
    """Price every line and stage its effect on valuation (quantities, values, FIFO layers).

    A line that crosses a warehouse boundary takes its cost out of the source warehouse
    (moving average or FIFO) and brings the same cost into the destination warehouse; stock
    arriving from a virtual location brings ``unit_cost`` (or the current cost). A reversal
    mirrors the cost of the movement it reverses exactly. Lines inside one warehouse change no
    value; they record quantity x the average cost for information.
    """
    keys: set[ValuationKey] = set()
    for line in lines:
        source_wh, destination_wh = _warehouse_of(line.source), _warehouse_of(line.destination)
        for wh in (source_wh, destination_wh):
            if wh is not None:
                keys.add((line.item.pk, wh))
    valuations = _lock_valuations(keys, create_missing=create_missing)
    layer_cache: dict[ValuationKey, list[CostLayer]] = {}
    costings: list[_Costing] = []
    for line in lines:
        costing = _Costing()
        source_wh, destination_wh = _warehouse_of(line.source), _warehouse_of(line.destination)
        fifo = line.item.valuation_method == ValuationMethod.FIFO
        if source_wh is not None and source_wh == destination_wh:
            # Inside one warehouse no value moves; the cost is recorded for information, and a
            # reversal records the cost its original carried.
            costing.total_cost = (
                line.reverses.total_cost
                if line.reverses is not None
                else (line.quantity * valuations[(line.item.pk, source_wh)].average_cost).quantize(MONEY_STEP)
            )
            costings.append(costing)
            continue
        cost: Decimal | None = None
        if source_wh is not None:
            valuation = valuations[(line.item.pk, source_wh)]
            if line.reverses is not None:
                cost = _reverse_incoming(line, valuation, fifo, costing)
            elif fifo:
                cost = _fifo_take(line, valuation, layer_cache, costing)
            else:
                cost = _average_take(line.quantity, valuation, line.item)
            valuation.quantity -= line.quantity
            valuation.value -= cost
        if destination_wh is not None:
            valuation = valuations[(line.item.pk, destination_wh)]
            if line.reverses is not None:
                cost = _reverse_outgoing(line, valuation, fifo, costing, cost)
            else:
                if cost is None and line.total_cost is not None:
                    cost = line.total_cost
                if cost is None:
                    unit = line.unit_cost if line.unit_cost is not None else _current_unit_cost(valuation, line.item)
                    cost = (line.quantity * unit).quantize(MONEY_STEP)
                if fifo:
                    costing.new_layers.append(
                        CostLayer(
                            item=line.item,
                            warehouse_id=destination_wh,
                            received_at=timezone.now(),
                            unit_cost=(cost / line.quantity).quantize(MONEY_STEP),
                            quantity=line.quantity,
                            remaining_quantity=line.quantity,
                            remaining_value=cost,
                        )
                    )
            valuation.quantity += line.quantity
            valuation.value += cost
            valuation.last_unit_cost = (cost / line.quantity).quantize(MONEY_STEP)
        if cost is None:  # between two virtual locations: no warehouse value changes
            cost = (
                line.reverses.total_cost
                if line.reverses
                else (line.quantity * (line.unit_cost or ZERO)).quantize(MONEY_STEP)
            )
        costing.total_cost = cost
        costings.append(costing)
    if valuations:
        _valuations_save(valuations.values())
    return costings


def _current_unit_cost(valuation: ItemValuation, item: Item) -> Decimal:
    if valuation.quantity > 0:
        return valuation.average_cost
    return valuation.last_unit_cost or item.standard_cost


def _average_take(quantity: Decimal, valuation: ItemValuation, item: Item) -> Decimal:
    """Cost of taking ``quantity`` out of a moving-average pool. Taking all that is there takes
    the whole value, so no rounding residue ever stays behind."""
    in_stock = min(quantity, max(valuation.quantity, ZERO))
    if in_stock == valuation.quantity and in_stock > 0:
        cost = valuation.value
    elif in_stock > 0:
        cost = (valuation.value * in_stock / valuation.quantity).quantize(MONEY_STEP)
    else:
        cost = ZERO
    beyond = quantity - in_stock  # only where negative stock is allowed
    if beyond > 0:
        cost += (beyond * _current_unit_cost(valuation, item)).quantize(MONEY_STEP)
    return cost


def _open_layers(key: ValuationKey, cache: dict[ValuationKey, list[CostLayer]]) -> list[CostLayer]:
    if key not in cache:
        cache[key] = list(
            CostLayer.objects.filter(item_id=key[0], warehouse_id=key[1], remaining_quantity__gt=0).order_by(
                "received_at", "id"
            )
        )
    return cache[key]


def _fifo_take(line: MovementLine, valuation: ItemValuation, cache: dict, costing: _Costing) -> Decimal:
    """Consume the oldest layers; beyond them (negative stock allowed) record a negative layer."""
    need, cost = line.quantity, ZERO
    last_unit = _current_unit_cost(valuation, line.item)
    for layer in _open_layers((line.item.pk, valuation.warehouse_id), cache):
        if need == 0:
            break
        if layer.remaining_quantity <= 0:
            continue
        take = min(need, layer.remaining_quantity)
        value = (
            layer.remaining_value if take == layer.remaining_quantity else (take * layer.unit_cost).quantize(MONEY_STEP)
        )
        layer.remaining_quantity -= take
        layer.remaining_value -= value
        costing.consumptions.append((layer, take, value))
        cost += value
        need -= take
        last_unit = layer.unit_cost
    if need > 0:
        value = (need * last_unit).quantize(MONEY_STEP)
        costing.new_layers.append(
            CostLayer(
                item=line.item,
                warehouse_id=valuation.warehouse_id,
                received_at=timezone.now(),
                unit_cost=last_unit,
                quantity=ZERO,
                remaining_quantity=-need,
                remaining_value=-value,
            )
        )
        cost += value
    return cost


def _reverse_incoming(line: MovementLine, valuation: ItemValuation, fifo: bool, costing: _Costing) -> Decimal:
    """Reversing a movement that brought stock into this warehouse takes the stock back out.
    Under FIFO it takes exactly what it brought: the quantity and value from its own layer.
    Under moving average the pool has mixed since, so it takes the quantity at the current
    average cost, like any issue: taking the original cost out instead could leave value with
    no stock, or a negative value, once later issues had spread that cost."""
    original = line.reverses
    assert original is not None
    if fifo:
        layer = (
            CostLayer.objects.filter(movement=original, warehouse_id=valuation.warehouse_id, quantity__gt=0)
            .select_for_update()
            .first()
        )
        if layer is None or layer.remaining_quantity < line.quantity:
            left = layer.remaining_quantity if layer else ZERO
            raise InvalidMovement(
                f"Movement #{original.pk} cannot be reversed: only {_fmt(left)} of its {_fmt(original.quantity)} "
                f"{original.item.sku} are still in stock at their cost; reverse what took them first."
            )
        value = layer.remaining_value if layer.remaining_quantity == line.quantity else original.total_cost
        layer.remaining_quantity -= line.quantity
        layer.remaining_value -= value
        costing.consumptions.append((layer, line.quantity, value))
        return value
    return _average_take(line.quantity, valuation, line.item)


def _reverse_outgoing(
    line: MovementLine, valuation: ItemValuation, fifo: bool, costing: _Costing, cost_out: Decimal | None
) -> Decimal:
    """Reversing a movement that took stock out of this warehouse puts back exactly what it
    took: its cost and, under FIFO, the quantities into the layers it consumed."""
    original = line.reverses
    assert original is not None
    if fifo:
        consumptions = list(
            CostLayerConsumption.objects.filter(
                movement=original, layer__warehouse_id=valuation.warehouse_id
            ).select_related("layer")
        )
        for consumption in consumptions:
            layer = consumption.layer
            layer.remaining_quantity += consumption.quantity
            layer.remaining_value += consumption.value
            costing.consumptions.append((layer, -consumption.quantity, -consumption.value))
        restored = sum((c.value for c in consumptions), ZERO)
        shortfall = original.total_cost - restored
        taken = original.quantity - sum((c.quantity for c in consumptions), ZERO)
        if taken > 0:  # the original went beyond the layers: give the negative layer back
            negative = CostLayer.objects.filter(
                movement=original, warehouse_id=valuation.warehouse_id, quantity=0
            ).first()
            if negative is not None:
                negative.remaining_quantity += taken
                negative.remaining_value += shortfall
                costing.consumptions.append((negative, -taken, -shortfall))
    return original.total_cost if cost_out is None else cost_out


def _save_costings(movements: list[Movement], costings: list[_Costing]) -> None:
    new_layers, consumption_rows, touched = [], [], {}
    for movement, costing in zip(movements, costings, strict=True):
        for layer in costing.new_layers:
            layer.movement = movement
            layer.received_at = movement.occurred_at
            new_layers.append(layer)
        for layer, quantity, value in costing.consumptions:
            touched[layer.pk] = layer
            consumption_rows.append(
                CostLayerConsumption(movement=movement, layer=layer, quantity=quantity, value=value)
            )
    if touched:
        _layers_save(touched.values())
    if new_layers:
        CostLayer.objects.bulk_create(new_layers)
    if consumption_rows:
        CostLayerConsumption.objects.bulk_create(consumption_rows)

"""Shortfalls: negative stock's cost, and its settlement by what comes in later.

The rules (docs/ledger.md, "Valuation", one sentence each there):
- what goes out beyond the stock (negative stock allowed) goes out at an estimated cost (the
  current unit cost, else the item's standard cost) and leaves a shortfall layer;
- whatever comes in while a pool is short settles its oldest shortfalls first at its own unit
  cost; each settled shortfall's estimated cost minus that actual cost is a cost correction
  (a value-only movement) against the goods that went out, naming the movement it corrects.

``costing`` prices the lines and calls in here when a line goes short (``_shortfall``), when
stock arrives (``_arrive``) and when a line reverses an outgoing movement (``_reverse_outgoing``).
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from catalog.models import LocationKind

from ..models import MONEY_STEP, ZERO, CostLayer, CostLayerConsumption, ItemValuation, Movement, MovementKind
from .errors import InvalidMovement
from .lines import MovementLine, _virtual
from .pools import _Batch, _Costing, _open_layers, _shortfalls

# The reason code of the cost corrections that settle shortfalls.
SHORTFALL_SETTLED = "shortfall_settled"


def _shortfall(
    line: MovementLine, valuation: ItemValuation, need: Decimal, unit: Decimal, batch: _Batch, costing: _Costing
) -> Decimal:
    """Record ``need`` taken beyond the stock at the estimated ``unit`` cost; return its value."""
    value = (need * unit).quantize(MONEY_STEP)
    layer = CostLayer(
        item=line.item,
        warehouse_id=valuation.warehouse_id,
        received_at=timezone.now(),
        unit_cost=unit,
        quantity=ZERO,
        remaining_quantity=-need,
        remaining_value=-value,
    )
    costing.new_layers.append(layer)
    batch.origins[id(layer)] = (batch.index, line)
    _shortfalls((line.item.pk, valuation.warehouse_id), batch).append(layer)
    return value


def _arrive(
    line: MovementLine,
    valuation: ItemValuation,
    fifo: bool,
    batch: _Batch,
    costing: _Costing,
    quantity: Decimal,
    cost: Decimal,
) -> None:
    """``quantity`` arrives at ``cost``: it first settles the pool's oldest shortfalls at its own
    unit cost (each difference from their estimate a cost correction); the rest joins the pool,
    under FIFO as a new layer."""
    key = (line.item.pk, valuation.warehouse_id)
    rest_quantity, rest_cost, corrected = quantity, cost, ZERO
    if valuation.quantity < 0:
        for short in _shortfalls(key, batch):
            if rest_quantity == 0:
                break
            if short.remaining_quantity >= 0:
                continue
            settled = min(rest_quantity, -short.remaining_quantity)
            estimated = (
                -short.remaining_value
                if settled == -short.remaining_quantity
                else (settled * short.unit_cost).quantize(MONEY_STEP)
            )
            actual = rest_cost if settled == rest_quantity else (settled * cost / quantity).quantize(MONEY_STEP)
            short.remaining_quantity += settled
            short.remaining_value += estimated
            costing.consumptions.append((short, -settled, -estimated))
            rest_quantity -= settled
            rest_cost -= actual
            if estimated != actual:
                costing.corrections.append(_settlement(short, estimated - actual, batch))
                corrected += estimated - actual
    valuation.quantity += quantity
    valuation.value += cost + corrected
    if fifo:
        layer = CostLayer(
            item=line.item,
            warehouse_id=valuation.warehouse_id,
            received_at=timezone.now(),
            unit_cost=(cost / quantity).quantize(MONEY_STEP),
            quantity=quantity,
            remaining_quantity=rest_quantity,
            remaining_value=rest_cost,
        )
        costing.new_layers.append(layer)
        if rest_quantity > 0:
            _open_layers(key, batch).append(layer)


def _settlement(short: CostLayer, delta: Decimal, batch: _Batch) -> tuple[MovementLine, int | None]:
    """The cost correction of a settled shortfall: ``delta`` (estimated minus actual cost) goes
    back to the stock it was taken from and off the goods that left (their destination, or
    inventory loss/gain for a transfer), naming the movement that went short."""
    if short.pk is None:
        index, went_short = batch.origins[id(short)]
        origin, reference = None, ""
    else:
        index, went_short = None, short.movement
        origin, reference = short.movement, str(short.movement_id)
    gone_to = went_short.destination
    if gone_to.is_internal or gone_to.kind == LocationKind.TRANSIT:
        gone_to = _virtual(LocationKind.INVENTORY_ADJUSTMENT)
    correction = MovementLine(
        item=went_short.item,
        quantity=ZERO,
        source=gone_to,
        destination=went_short.source,
        kind=MovementKind.COST_CORRECTION,
        lot=went_short.lot,
        reason_code=SHORTFALL_SETTLED,
        note="Stock taken beyond what was there, settled at the cost of what came in.",
        reference_type="stock.movement",
        reference_id=reference,
        total_cost=delta,
        origin=origin,
    )
    return correction, index


def _reverse_outgoing(
    line: MovementLine, valuation: ItemValuation, fifo: bool, batch: _Batch, costing: _Costing, cost_out: Decimal | None
) -> Decimal:
    """Reversing a movement that took stock out of this warehouse puts back exactly what it
    took, at its cost: its own shortfall is cancelled (refused once receipts settled part of
    it: return the goods naming it instead), and the rest goes back into the FIFO layers it
    consumed, or, while other shortfalls are open, arrives like any stock (settling them)."""
    original = line.reverses
    assert original is not None
    cost = original.total_cost if cost_out is None else cost_out
    key = (line.item.pk, valuation.warehouse_id)
    short = next((layer for layer in _shortfalls(key, batch) if layer.movement_id == original.pk), None)
    settled = CostLayerConsumption.objects.filter(
        layer__movement=original, layer__warehouse_id=valuation.warehouse_id, layer__quantity=0
    ).exists()
    if settled or (short is None and _went_short(original, valuation.warehouse_id)):
        raise InvalidMovement(
            f"Movement #{original.pk} cannot be reversed: stock received since settled what it took beyond "
            "the stock, at its own cost; post a return naming it instead."
        )
    short_quantity = short_value = ZERO
    if short is not None:
        short_quantity, short_value = -short.remaining_quantity, -short.remaining_value
        short.remaining_quantity = short.remaining_value = ZERO
        costing.consumptions.append((short, -short_quantity, -short_value))
        valuation.quantity += short_quantity
        valuation.value += short_value
    rest_quantity, rest_cost = line.quantity - short_quantity, cost - short_value
    if rest_quantity <= 0:
        return cost
    if valuation.quantity < 0:
        _arrive(line, valuation, fifo, batch, costing, rest_quantity, rest_cost)
        return cost
    if fifo:
        for consumption in CostLayerConsumption.objects.filter(
            movement=original, layer__warehouse_id=valuation.warehouse_id, quantity__gt=0
        ).select_related("layer"):
            layer = next(
                (cached for cached in _open_layers(key, batch) if cached.pk == consumption.layer_id),
                consumption.layer,
            )
            layer.remaining_quantity += consumption.quantity
            layer.remaining_value += consumption.value
            costing.consumptions.append((layer, -consumption.quantity, -consumption.value))
    valuation.quantity += rest_quantity
    valuation.value += rest_cost
    return cost


def _went_short(movement: Movement, warehouse_id: int) -> bool:
    return CostLayer.objects.filter(movement=movement, warehouse_id=warehouse_id, quantity=0).exists()

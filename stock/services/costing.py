"""Valuation: the cost each line takes out of or brings into a warehouse (moving average or
FIFO layers), staged under the valuation locks before anything is inserted, and saved after
the movements exist. Going short and settling shortfalls is ``shortfalls``' part; the state
of a batch's pools is ``pools``'.

The rules (docs/ledger.md, "Valuation", one sentence each there; the shortfall rules are
``shortfalls``'):
- a receipt reversed, or returned to the supplier naming it, goes out at its own cost; a
  customer return naming its issue comes back at the issue's (corrected) cost; under moving
  average what that leaves of the pool is corrected against cost of goods sold so that no value
  stays on zero stock and no unit cost turns negative.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from catalog.models import Item, LocationKind, ValuationMethod

from ..models import (
    MONEY_STEP,
    ZERO,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Movement,
    MovementKind,
)
from .errors import InvalidMovement, _fmt
from .lines import MovementLine, ValuationKey, _virtual, _warehouse_of
from .locks import _layers_save, _lock_valuations, _valuations_save
from .pools import _Batch, _Costing, _open_layers, _shortfalls
from .shortfalls import SHORTFALL_SETTLED, _arrive, _reverse_outgoing, _shortfall

# The reason code of the corrections the posting makes itself.
OWN_COST_RESIDUE = "own_cost_residue"
AUTOMATIC_CORRECTIONS = (SHORTFALL_SETTLED, OWN_COST_RESIDUE)


def _cost_lines(lines: list[MovementLine], *, create_missing: bool = True) -> list[_Costing]:
    """Price every line and stage its effect on valuation (quantities, values, FIFO layers,
    shortfalls and the cost corrections settling them).

    A line that crosses a warehouse boundary takes its cost out of the source warehouse
    (``_take``) and brings the same cost into the destination warehouse (``_bring``); stock
    arriving from a virtual location brings ``unit_cost`` (or the current cost). Lines inside
    one warehouse change no value; they record quantity x the average cost for information.
    """
    keys: set[ValuationKey] = set()
    for line in lines:
        source_wh, destination_wh = _warehouse_of(line.source), _warehouse_of(line.destination)
        for wh in (source_wh, destination_wh):
            if wh is not None:
                keys.add((line.item.pk, wh))
    valuations = _lock_valuations(keys, create_missing=create_missing)
    batch = _Batch()
    costings: list[_Costing] = []
    for index, line in enumerate(lines):
        batch.index = index
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
            cost = _take(line, valuations[(line.item.pk, source_wh)], fifo, batch, costing)
        if destination_wh is not None:
            cost = _bring(line, valuations[(line.item.pk, destination_wh)], fifo, batch, costing, cost)
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


def _own(line: MovementLine) -> Movement | None:
    """The incoming movement whose own cost this outgoing line takes back out: the one it
    reverses, or the receipt a supplier return names."""
    if line.reverses is not None:
        return line.reverses
    return line.origin if line.kind == MovementKind.SUPPLIER_RETURN else None


def _take(line: MovementLine, valuation: ItemValuation, fifo: bool, batch: _Batch, costing: _Costing) -> Decimal:
    """Take the line's quantity out of the pool and return the cost it carries out."""
    own = _own(line)
    if own is not None:
        cost = _take_own(line, own, valuation, fifo, batch, costing)
    elif fifo:
        cost = _fifo_take(line, valuation, batch, costing)
    else:
        cost = _average_take(line, valuation, batch, costing)
    valuation.quantity -= line.quantity
    valuation.value -= cost
    if own is not None and not fifo:
        _correct_residue(line, own, valuation, batch, costing)
    return cost


def _average_take(line: MovementLine, valuation: ItemValuation, batch: _Batch, costing: _Costing) -> Decimal:
    """Cost of taking the line out of a moving-average pool. Taking all that is there takes
    the whole value, so no rounding residue ever stays behind; beyond it (negative stock
    allowed) the estimate leaves a shortfall."""
    quantity = line.quantity
    in_stock = min(quantity, max(valuation.quantity, ZERO))
    cost = _average_share(in_stock, valuation)
    beyond = quantity - in_stock
    if beyond > 0:
        cost += _shortfall(line, valuation, beyond, _current_unit_cost(valuation, line.item), batch, costing)
    return cost


def _average_share(quantity: Decimal, valuation: ItemValuation) -> Decimal:
    """Cost of taking ``quantity`` (at most what the pool holds) out of a moving-average pool:
    its share of the pool's value, or the whole value when all of it goes, so no rounding
    residue ever stays behind. The set path (``bulk.py``) prices its takes with it too."""
    if quantity == valuation.quantity and quantity > 0:
        return valuation.value
    if quantity > 0:
        return (valuation.value * quantity / valuation.quantity).quantize(MONEY_STEP)
    return ZERO


def _fifo_take(line: MovementLine, valuation: ItemValuation, batch: _Batch, costing: _Costing) -> Decimal:
    """Consume the oldest layers; beyond them (negative stock allowed) record a shortfall."""
    need, cost = line.quantity, ZERO
    last_unit = _current_unit_cost(valuation, line.item)
    for layer in _open_layers((line.item.pk, valuation.warehouse_id), batch):
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
        cost += _shortfall(line, valuation, need, last_unit, batch, costing)
    return cost


def _actual_cost(movement: Movement) -> Decimal:
    """A movement's cost with the value-only entries that name it: landed costs and price
    differences raise what a receipt cost; a cost correction settling an issue's shortfall gave
    value back to the stock, so the issue cost that much less."""
    follow_ups = sum(Movement.objects.filter(origin=movement, quantity=0).values_list("total_cost", flat=True), ZERO)
    incoming = not movement.source.is_internal
    return movement.total_cost + follow_ups if incoming else movement.total_cost - follow_ups


def _returned(movement: Movement, kind: str) -> tuple[Decimal, Decimal]:
    """Quantity and value already returned (movements of ``kind`` naming ``movement``)."""
    rows = Movement.objects.filter(origin=movement, kind=kind).values_list("quantity", "total_cost")
    return sum((q for q, _ in rows), ZERO), sum((v for _, v in rows), ZERO)


def _share(quantity: Decimal, of: Movement, kind: str) -> Decimal:
    """The own cost of ``quantity`` of movement ``of`` returned by a movement of ``kind``
    (a reversal: all of it); the last part returned takes what is left, so no cent is lost."""
    if kind == MovementKind.REVERSAL:
        return of.total_cost  # undoes the movement itself; its value-only entries are reversed on their own
    total = _actual_cost(of)
    done_quantity, done_value = _returned(of, kind)
    if quantity > of.quantity - done_quantity:
        raise InvalidMovement(
            f"Only {_fmt(of.quantity - done_quantity)} of the {_fmt(of.quantity)} {of.item.sku} of movement "
            f"#{of.pk} are left to return; asked {_fmt(quantity)}."
        )
    if quantity == of.quantity - done_quantity:
        return total - done_value
    return (quantity * total / of.quantity).quantize(MONEY_STEP)


def _take_own(
    line: MovementLine, own: Movement, valuation: ItemValuation, fifo: bool, batch: _Batch, costing: _Costing
) -> Decimal:
    """Take out what ``own`` brought into this warehouse at its own cost. Under FIFO, from its
    own layer (refused when that stock was already used). Under moving average, its own cost;
    beyond the stock (negative allowed) a shortfall at its unit cost (``_correct_residue``
    then keeps the pool honest)."""
    if fifo:
        layer = (
            CostLayer.objects.filter(movement=own, warehouse_id=valuation.warehouse_id, quantity__gt=0)
            .select_for_update()
            .first()
        )
        if layer is None or layer.remaining_quantity < line.quantity:
            left = layer.remaining_quantity if layer else ZERO
            raise InvalidMovement(
                f"Movement #{own.pk} cannot be taken back: only {_fmt(left)} of its {_fmt(own.quantity)} "
                f"{own.item.sku} are still in stock at their cost; reverse or return what took them first."
            )
        for cached in _open_layers((line.item.pk, valuation.warehouse_id), batch):
            if cached.pk == layer.pk:
                layer = cached  # the batch's copy, so that both changes are saved
        value = (
            layer.remaining_value
            if layer.remaining_quantity == line.quantity
            else (line.quantity * layer.unit_cost).quantize(MONEY_STEP)
        )
        layer.remaining_quantity -= line.quantity
        layer.remaining_value -= value
        costing.consumptions.append((layer, line.quantity, value))
        return value
    cost = _share(line.quantity, own, line.kind)
    beyond = line.quantity - min(line.quantity, max(valuation.quantity, ZERO))
    if beyond > 0:
        _shortfall(line, valuation, beyond, (cost / line.quantity).quantize(MONEY_STEP), batch, costing)
    return cost


def _correct_residue(
    line: MovementLine, own: Movement, valuation: ItemValuation, batch: _Batch, costing: _Costing
) -> None:
    """After a moving-average pool gave back a movement's own cost: zero stock keeps no value,
    positive stock no negative value, and a short pool exactly its shortfalls; the rest is a
    cost correction against cost of goods sold, naming ``own``."""
    key = (line.item.pk, valuation.warehouse_id)
    if valuation.quantity < 0:
        target = sum((layer.remaining_value for layer in _shortfalls(key, batch)), ZERO)
    else:
        target = max(valuation.value, ZERO) if valuation.quantity > 0 else ZERO
    delta = target - valuation.value
    if delta == 0:
        return
    valuation.value = target
    correction = MovementLine(
        item=line.item,
        quantity=ZERO,
        source=_virtual(LocationKind.CUSTOMER),
        destination=line.source,
        kind=MovementKind.COST_CORRECTION,
        lot=line.lot,
        reason_code=OWN_COST_RESIDUE,
        note=f"What taking back #{own.pk} at its own cost left in the pool, to cost of goods sold.",
        reference_type="stock.movement",
        reference_id=str(own.pk),
        total_cost=delta,
        origin=own,
    )
    costing.corrections.append((correction, None))


def _bring(
    line: MovementLine,
    valuation: ItemValuation,
    fifo: bool,
    batch: _Batch,
    costing: _Costing,
    cost_out: Decimal | None,
) -> Decimal:
    """Bring the line into the pool and return its cost: what left the source warehouse, else
    ``total_cost``, else the issue's own cost for a customer return naming it, else
    ``unit_cost``, else the current cost."""
    if line.reverses is not None:
        cost = _reverse_outgoing(line, valuation, fifo, batch, costing, cost_out)
    else:
        given = cost_out if cost_out is not None else line.total_cost
        if given is not None:
            cost = given
        elif line.origin is not None and line.kind == MovementKind.CUSTOMER_RETURN:
            cost = _share(line.quantity, line.origin, line.kind)
        else:
            unit = line.unit_cost if line.unit_cost is not None else _current_unit_cost(valuation, line.item)
            cost = (line.quantity * unit).quantize(MONEY_STEP)
        _arrive(line, valuation, fifo, batch, costing, line.quantity, cost)
    valuation.last_unit_cost = (cost / line.quantity).quantize(MONEY_STEP)
    return cost


def _save_costings(movements: list[Movement], costings: list[_Costing]) -> None:
    new_layers, consumption_rows, touched = [], [], {}
    for movement, costing in zip(movements, costings, strict=True):
        for layer in costing.new_layers:
            layer.movement = movement
            layer.received_at = movement.occurred_at
            new_layers.append(layer)
        for layer, quantity, value in costing.consumptions:
            if layer.pk is not None:
                touched[layer.pk] = layer
            consumption_rows.append(
                CostLayerConsumption(movement=movement, layer=layer, quantity=quantity, value=value)
            )
    if new_layers:
        CostLayer.objects.bulk_create(new_layers)
    if touched:
        _layers_save(touched.values())
    if consumption_rows:
        CostLayerConsumption.objects.bulk_create(consumption_rows)


def _corrections(movements: list[Movement], costings: list[_Costing]) -> list[MovementLine]:
    """The cost corrections of a batch, each naming the movement it corrects (one posted in
    this batch is known by its line number until it exists)."""
    found = []
    for costing in costings:
        for correction, index in costing.corrections:
            if index is not None:
                origin = movements[index]
                correction = replace(correction, origin=origin, reference_id=str(origin.pk))
            found.append(correction)
    return found

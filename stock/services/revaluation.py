"""Value-only entries (rule 9; docs/ledger.md, "Value-only entries"): landed costs and supplier
price differences on receipts, a manager's write-down, and the reversal of any of them.

Each is a movement of quantity 0 whose ``total_cost`` is the signed change of value at its
destination (and minus that at its source): the stock share of a receipt's landed cost goes
from the supplier location into the receipt's location (the warehouse's value rises), the share
of stock already consumed from the supplier location to the customer location (cost of goods
sold), a write-down from the stock to inventory loss. Under FIFO the value lands in, or leaves,
the layers concerned; what each entry did to a layer is kept as a ``CostLayerConsumption`` of
quantity 0 (value taken out positive, put in negative), so a reversal undoes exactly that.

Locks: the (item, warehouse) valuations in key order, the protocol's third step (no level changes:
quantity 0); their locks guard the FIFO layers. Permissions: the warehouse's "adjust", and a
write-down above the adjustment value limit needs an approver who may approve adjustments there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.models import Item, Location, LocationKind, ValuationMethod, Warehouse
from catalog.permissions import WarehouseAction, WarehousePermissionDenied, warehouse_allows, warehouse_require
from common.actors import Actor

from ..models import (
    MONEY_STEP,
    VALUE_ONLY_KINDS,
    ZERO,
    CostLayer,
    CostLayerConsumption,
    ItemValuation,
    Movement,
    MovementKind,
    StockLevel,
)
from .errors import AlreadyReversed, InvalidMovement, _fmt
from .lines import MovementLine, _approval_limits, _occurred_at, _quantity, _require_reason, _virtual, reversal_line
from .locks import _insert_movements, _layers_save, _lock_valuations, _valuations_save, _value_movements
from .posting import movements_for_key

RECEIPT_ENTRY_KINDS = (MovementKind.LANDED_COST, MovementKind.PRICE_DIFFERENCE)


def _amount(value: object, what: str) -> Decimal:
    amount = _quantity(value, what)
    if amount == 0:
        raise InvalidMovement(f"The {what} must not be zero.")
    return amount


def _fifo(item: Item) -> bool:
    return item.valuation_method == ValuationMethod.FIFO


def _require_adjust(actor: Actor | None, warehouses: Sequence[Warehouse]) -> None:
    warehouse_require(actor, warehouses, WarehouseAction.ADJUST, model_perm="stock.add_movement")


@transaction.atomic
def receipts_revalue(
    *,
    kind: str,
    shares: Sequence[tuple[Movement, Decimal]],
    reason_code: str,
    actor: Actor | None,
    reference_type: str = "",
    reference_id: str = "",
    note: str = "",
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Movement]:
    """Post a landed cost or a supplier price difference already allocated to receipts
    (``shares``: each receipt and its signed amount; ``purchasing.landed_costs`` allocates).

    Each share splits by what of the receipt is still on hand: under FIFO its layer's remaining
    quantity, under moving average at most the pool's quantity; that part changes the value on
    hand (FIFO: of the receipt's layer), the rest goes to cost of goods sold. A share that would
    leave stock valued below zero goes to cost of goods sold for the excess. All or nothing;
    with a used ``idempotency_key`` returns the first posting's entries."""
    if kind not in RECEIPT_ENTRY_KINDS:
        raise InvalidMovement(f"Receipts are revalued by a landed cost or a price difference, not {kind!r}.")
    reason_code = _require_reason(reason_code, MovementKind(kind).label.lower())
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous
    if not shares:
        raise InvalidMovement("Nothing to post: no receipts.")
    checked = []
    for receipt, amount in shares:
        if receipt.kind != MovementKind.RECEIPT or not receipt.destination.is_internal:
            raise InvalidMovement(f"Movement #{receipt.pk} is not a receipt into a warehouse.")
        if Movement.objects.filter(reverses=receipt).exists():
            raise InvalidMovement(f"Receipt #{receipt.pk} was reversed.")
        checked.append((receipt, _amount(amount, f"amount for receipt #{receipt.pk}")))
    warehouses = list({r.destination.home_warehouse.pk: r.destination.home_warehouse for r, _ in checked}.values())
    _require_adjust(actor, warehouses)
    when = _occurred_at(occurred_at, actor=actor, warehouses=warehouses)
    valuations = _lock_valuations({(r.item_id, r.destination.home_warehouse.pk) for r, _ in checked})
    supplier, customer = _virtual(LocationKind.SUPPLIER), _virtual(LocationKind.CUSTOMER)
    lines, layer_changes = [], []
    for receipt, amount in checked:
        valuation = valuations[(receipt.item_id, receipt.destination.home_warehouse.pk)]
        on_hand, layer = _on_hand_of(receipt, valuation)
        stock = amount if on_hand == receipt.quantity else (amount * on_hand / receipt.quantity).quantize(MONEY_STEP)
        held = layer.remaining_value if layer is not None else valuation.value
        # Never below zero on hand (a short pool's negative value is its shortfalls: not offset
        # here); the rest to cost of goods sold.
        stock = max(stock, -max(held, ZERO))

        def entry(destination: Location, total_cost: Decimal, receipt: Movement = receipt) -> MovementLine:
            """A value-only line of this receipt's share into ``destination``."""
            return MovementLine(
                item=receipt.item,
                quantity=ZERO,
                source=supplier,
                destination=destination,
                kind=kind,
                lot=receipt.lot,
                reason_code=reason_code,
                note=note,
                reference_type=reference_type,
                reference_id=reference_id,
                reference_line=str(receipt.pk),
                origin=receipt,
                total_cost=total_cost,
            )

        if stock:
            valuation.value += stock
            lines.append(entry(receipt.destination, stock))
            layer_changes.append([(layer, -stock)] if layer is not None else [])
        if amount - stock:
            lines.append(entry(customer, amount - stock))
            layer_changes.append([])
    return _post_entries(lines, layer_changes, valuations, actor=actor, key=idempotency_key, when=when)


def _on_hand_of(receipt: Movement, valuation: ItemValuation) -> tuple[Decimal, CostLayer | None]:
    """How much of ``receipt`` is still on hand, and (FIFO) its layer."""
    if not _fifo(receipt.item):
        return min(receipt.quantity, max(valuation.quantity, ZERO)), None
    layer = CostLayer.objects.get(movement=receipt, warehouse_id=valuation.warehouse_id, quantity__gt=0)
    return max(layer.remaining_quantity, ZERO), layer


@transaction.atomic
def stock_write_down(
    *,
    item: Item,
    warehouse: Warehouse,
    amount: Decimal,
    reason_code: str,
    actor: Actor | None,
    note: str = "",
    reference_type: str = "",
    reference_id: str = "",
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> Movement:
    """Write ``amount`` off the value of ``item`` on hand in ``warehouse`` (damaged, obsolete):
    a value-only entry from the stock to inventory loss, ``total_cost`` = -amount. Under FIFO
    it is taken from the open layers in proportion to their value. At most the value on hand;
    refused with nothing on hand. Above ``STOCK_ADJUSTMENT_APPROVAL_VALUE`` only by a manager
    who may approve adjustments in ``warehouse`` (the approval is the poster's own right: nobody
    can name someone else as approver)."""
    reason_code = _require_reason(reason_code, "write-down")
    amount = _amount(amount, "write-down amount")
    if amount < 0:
        raise InvalidMovement(f"A write-down takes value off: give a positive amount (got {_fmt(amount)}).")
    if idempotency_key and (previous := movements_for_key(idempotency_key)):
        return previous[0]
    _require_adjust(actor, [warehouse])
    _write_down_approval(amount, warehouse, actor)
    when = _occurred_at(occurred_at, actor=actor, warehouses=[warehouse])
    valuations = _lock_valuations({(item.pk, warehouse.pk)})
    valuation = valuations[(item.pk, warehouse.pk)]
    if valuation.quantity <= 0 or valuation.value < amount:
        raise InvalidMovement(
            f"Only {valuation.value:.2f} of {item.sku} is on hand in {warehouse.code} "
            f"({_fmt(max(valuation.quantity, ZERO))} {item.base_unit.code}); cannot write down {amount:.2f}."
        )
    place = (
        StockLevel.objects.filter(item=item, location__warehouse=warehouse, location__kind=LocationKind.INTERNAL)
        .select_related("location", "lot")
        .order_by("-on_hand", "location_id")
        .first()
    )
    assert place is not None  # a positive valuation has levels
    valuation.value -= amount
    changes = _spread(item, warehouse, amount) if _fifo(item) else []
    if actor is not None and amount > _approval_limits()[1]:
        note = f"{note} (above the approval limit; approved by {actor})".strip()
    line = MovementLine(
        item=item,
        quantity=ZERO,
        source=_virtual(LocationKind.INVENTORY_ADJUSTMENT),
        destination=place.location,
        kind=MovementKind.WRITE_DOWN,
        reason_code=reason_code,
        note=note,
        reference_type=reference_type,
        reference_id=reference_id,
        total_cost=-amount,
    )
    return _post_entries([line], [changes], valuations, actor=actor, key=idempotency_key, when=when)[0]


def _write_down_approval(amount: Decimal, warehouse: Warehouse, actor: Actor | None) -> None:
    limit = _approval_limits()[1]
    if amount > limit and not warehouse_allows(actor, warehouse, WarehouseAction.APPROVE):
        raise WarehousePermissionDenied(
            f"A write-down of {amount:.2f} is above the approval limit of {limit:.2f}: only a manager who "
            f"approves adjustments in {warehouse.code} may post it."
        )


def _spread(item: Item, warehouse: Warehouse, amount: Decimal) -> list[tuple[CostLayer, Decimal]]:
    """Take ``amount`` off the open FIFO layers in proportion to their value (the last one
    takes what is left, so no cent is lost); returns (layer, value taken)."""
    layers = list(
        CostLayer.objects.filter(item=item, warehouse=warehouse, remaining_quantity__gt=0).order_by("received_at", "id")
    )
    total = sum((layer.remaining_value for layer in layers), ZERO)
    cuts: dict[int, Decimal] = {}
    left = amount
    for number, layer in enumerate(layers, start=1):
        cut = left if number == len(layers) else (amount * layer.remaining_value / total).quantize(MONEY_STEP)
        cuts[number] = min(cut, layer.remaining_value, left)
        left -= cuts[number]
    for number, layer in enumerate(layers, start=1):  # what rounding left over, where value remains
        extra = min(left, layer.remaining_value - cuts[number])
        cuts[number] += extra
        left -= extra
    return [(layer, cuts[number]) for number, layer in enumerate(layers, start=1) if cuts[number]]


def _post_entries(
    lines: list[MovementLine],
    layer_changes: list[list[tuple[CostLayer, Decimal]]],
    valuations: dict,
    *,
    actor: Actor | None,
    key: str | None,
    when: datetime,
) -> list[Movement]:
    """Insert the entries (one batch), apply each one's layer changes (value taken out of a
    layer positive) and save the valuations: the one writer of value-only entries."""
    now, batch = timezone.now(), uuid.uuid4()
    movements = _value_movements(
        lines, batch=batch, start=1, actor=actor, occurred_at=when, posted_at=now, idempotency_key=key
    )
    _insert_movements(movements)
    layers, consumptions = {}, []
    for movement, changes in zip(movements, layer_changes, strict=True):
        for layer, value in changes:
            layer.remaining_value -= value
            if layer.remaining_quantity > 0:  # what the rest of it now costs, for partial takes
                layer.unit_cost = (layer.remaining_value / layer.remaining_quantity).quantize(MONEY_STEP)
            layers[layer.pk] = layer
            consumptions.append(CostLayerConsumption(movement=movement, layer=layer, quantity=ZERO, value=value))
    if layers:
        _layers_save(layers.values())
        CostLayerConsumption.objects.bulk_create(consumptions)
    _valuations_save(valuations.values())
    return movements


def value_entry_reverse(
    *,
    original: Movement,
    actor: Actor | None,
    reason: str,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> Movement:
    """Undo a value-only entry (``movement_reverse`` calls this, through ``requests_post``, for
    quantity-0 movements): the same sides, the opposite ``total_cost``, and under FIFO the same
    layers given back what it did to them. Refused when that would leave stock valued below zero
    or value on nothing (what it changed has left since: post an opposite entry instead). The
    caller holds the original's row lock and has answered a used ``idempotency_key``; the
    reversal carries it."""
    if original.kind not in VALUE_ONLY_KINDS:
        raise InvalidMovement(f"Movement #{original.pk} is not a value-only entry.")
    if Movement.objects.filter(reverses=original).exists():
        raise AlreadyReversed(f"Movement #{original.pk} has already been reversed.")
    destination = original.destination
    warehouses = [destination.home_warehouse] if destination.is_internal else []
    _require_adjust(actor, warehouses)
    when = _occurred_at(occurred_at, actor=actor, warehouses=warehouses)
    keys = {(original.item_id, warehouse.pk) for warehouse in warehouses}
    valuations = _lock_valuations(keys)
    changes: list[tuple[CostLayer, Decimal]] = []
    for key in keys:
        valuation = valuations[key]
        valuation.value -= original.total_cost
        # Without stock (none, or short: a short pool is valued at its shortfalls) no value can return.
        gone = valuation.value < 0 or valuation.quantity <= 0
        for done in CostLayerConsumption.objects.filter(movement=original).select_related("layer"):
            layer, after = done.layer, done.layer.remaining_value + done.value
            gone = gone or after < 0 or (layer.remaining_quantity == 0 and after != 0)
            changes.append((layer, -done.value))
        if gone:
            raise InvalidMovement(
                f"Entry #{original.pk} cannot be reversed: the value it changed has left the stock since; "
                "post an opposite entry instead."
            )
    return _post_entries(
        [reversal_line(original, reason)], [changes], valuations, actor=actor, key=idempotency_key, when=when
    )[0]

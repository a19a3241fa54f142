"""Landed costs and supplier price differences of purchase orders (issue 14; docs/purchasing.md,
"Landed costs and price differences").

Freight, duty or insurance invoiced after the goods arrived is allocated over the receipt
movements of one or more purchase orders, by quantity, by value or by weight, and posted as
value-only entries through ``stock.services.receipts_revalue``, which splits each share between
the stock still on hand and cost of goods sold. A supplier invoice whose price differs from
the order line's is posted the same way, per receipt of that line. This module only finds the
receipts and allocates; the valuation rules live in ``stock``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import models, transaction

from catalog.permissions import WarehouseAction, warehouse_require
from common.actors import Actor
from stock.models import MONEY_STEP, ZERO, Movement, MovementKind
from stock.services import receipts_revalue

from .models import PurchaseOrder, PurchaseOrderLine
from .services import REFERENCE_TYPE, PurchasingError

LANDED_COST_REFERENCE = "purchasing.landed-cost"


class AllocationBasis(models.TextChoices):
    QUANTITY = "quantity", "By quantity"
    VALUE = "value", "By value"
    WEIGHT = "weight", "By weight"


def order_receipts(orders: Sequence[PurchaseOrder]) -> list[Movement]:
    """The receipt movements of ``orders`` that were not reversed, in posting order."""
    return list(
        Movement.objects.filter(
            kind=MovementKind.RECEIPT,
            reference_type=REFERENCE_TYPE,
            reference_id__in=[order.number for order in orders],
            reversed_by__isnull=True,
        )
        .select_related("item__base_unit", "lot", "destination__warehouse")
        .order_by("id")
    )


def _weights(receipts: Sequence[Movement], basis: str) -> list[Decimal]:
    if basis == AllocationBasis.QUANTITY:
        return [receipt.quantity for receipt in receipts]
    if basis == AllocationBasis.VALUE:
        return [receipt.total_cost for receipt in receipts]
    if basis == AllocationBasis.WEIGHT:
        unknown = sorted({r.item.sku for r in receipts if not r.item.weight_kg})
        if unknown:
            raise PurchasingError(f"No weight recorded for {', '.join(unknown)}: allocate by quantity or value.")
        return [receipt.quantity * receipt.item.weight_kg for receipt in receipts]
    raise PurchasingError(f"Unknown allocation basis {basis!r}: quantity, value or weight.")


def allocate(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``amount`` split in proportion to ``weights``, each share rounded to the money step, the
    last one taking what is left so the shares add up to ``amount`` exactly."""
    total = sum(weights, ZERO)
    if total <= 0:
        raise PurchasingError("The receipts have nothing to allocate by (their total is zero).")
    shares, left = [], amount
    for number, weight in enumerate(weights, start=1):
        share = left if number == len(weights) else (amount * weight / total).quantize(MONEY_STEP)
        shares.append(share)
        left -= share
    return shares


@transaction.atomic
def landed_cost_allocate(
    *,
    orders: Sequence[PurchaseOrder],
    amount: Decimal,
    basis: str,
    reason_code: str,
    actor: Actor | None,
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
) -> list[Movement]:
    """Allocate a landed cost of ``amount`` over the receipts of ``orders`` by ``basis`` and
    post it (``stock.services.receipts_revalue``: the share of stock still on hand raises its
    value, the rest goes to cost of goods sold). Needs the purchase-order change permission and
    the "adjust" right in every order's warehouse; refuses orders with nothing received."""
    orders = list(orders)
    if not orders:
        raise PurchasingError("Choose the purchase orders the cost belongs to.")
    warehouse_require(
        actor, [o.warehouse for o in orders], WarehouseAction.ADJUST, model_perm="purchasing.change_purchaseorder"
    )
    receipts = order_receipts(orders)
    if not receipts:
        raise PurchasingError(f"Nothing was received on {', '.join(o.number for o in orders)}: no cost to land.")
    shares = allocate(Decimal(amount), _weights(receipts, basis))
    return receipts_revalue(
        kind=MovementKind.LANDED_COST,
        shares=[(receipt, share) for receipt, share in zip(receipts, shares, strict=True) if share],
        reason_code=reason_code,
        actor=actor,
        reference_type=LANDED_COST_REFERENCE,
        reference_id=reference or ", ".join(o.number for o in orders),
        note=note,
        idempotency_key=idempotency_key,
    )


@transaction.atomic
def price_difference_post(
    *,
    line: PurchaseOrderLine,
    invoiced_unit_cost: Decimal,
    reason_code: str,
    actor: Actor | None,
    reference: str = "",
    note: str = "",
    idempotency_key: str | None = None,
) -> list[Movement]:
    """The supplier invoiced ``invoiced_unit_cost`` for what was received on ``line`` at the
    order's price: each receipt of the line gets (invoiced - its unit cost) x its quantity,
    split like a landed cost. Refused when nothing differs or nothing was received."""
    warehouse_require(actor, line.order.warehouse, WarehouseAction.ADJUST, model_perm="purchasing.change_purchaseorder")
    receipts = [r for r in order_receipts([line.order]) if r.reference_line == str(line.pk)]
    if not receipts:
        raise PurchasingError(f"Nothing of {line.item.sku} was received on {line.order.number}.")
    invoiced = Decimal(invoiced_unit_cost)
    shares = [(r, (r.quantity * (invoiced - r.unit_cost)).quantize(MONEY_STEP)) for r in receipts]
    shares = [(r, share) for r, share in shares if share]
    if not shares:
        raise PurchasingError(f"{line.item.sku} was received at {invoiced}: there is no difference to post.")
    return receipts_revalue(
        kind=MovementKind.PRICE_DIFFERENCE,
        shares=shares,
        reason_code=reason_code,
        actor=actor,
        reference_type=REFERENCE_TYPE,
        reference_id=reference or line.order.number,
        note=note,
        idempotency_key=idempotency_key,
    )

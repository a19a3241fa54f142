"""Returns to the supplier against a purchase order's receipt (docs/purchasing.md, "Returns").

A return is a ``supplier_return`` movement out of one of the order's warehouse bins to the
supplier location, posted by ``stock.services.stock_supplier_return`` (the one write path) with
the receipt's reference (``purchasing.purchase-order`` / the order number / the line id), so the
ledger alone says how much of a line went back. The line's ``received_quantity`` stays what
arrived: a return does not reopen the order.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from catalog.models import Location, LocationKind, Tracking
from catalog.permissions import WarehouseAction, warehouse_require
from common.actors import Actor
from stock.models import Movement, MovementKind
from stock.services import movements_for_key, stock_supplier_return

from .models import PurchaseOrder, PurchaseOrderLine
from .services import REFERENCE_TYPE, PurchasingError, _locked, _positive_quantity, quantity_text

ZERO = Decimal(0)


def returned_quantity(line: PurchaseOrderLine) -> Decimal:
    """How much of ``line`` went back to the supplier so far (its return movements' total)."""
    total = Movement.objects.filter(
        kind=MovementKind.SUPPLIER_RETURN,
        reference_type=REFERENCE_TYPE,
        reference_id=line.order.number,
        reference_line=str(line.pk),
    ).aggregate(total=Sum("quantity"))["total"]
    return total or ZERO


@transaction.atomic
def purchase_order_return(
    *,
    order: PurchaseOrder,
    line: PurchaseOrderLine,
    quantity: Decimal,
    location: Location,
    actor: Actor | None,
    reason_code: str,
    lot: str = "",
    idempotency_key: str | None = None,
) -> list[Movement]:
    """Send ``quantity`` of a received line back to the supplier from ``location`` (a bin of the
    order's warehouse). Needs the right to post movements there (checked again by stock). Locks
    the order, so two returns of one line queue. Refuses, writing nothing: a line of another
    order, more than was received and not yet returned, a location of another warehouse, a
    missing reason. The same ``idempotency_key`` returns the first return's movements."""
    order = _locked(order)
    warehouse_require(actor, order.warehouse, WarehouseAction.POST)
    if idempotency_key is not None and (previous := movements_for_key(idempotency_key.strip())):
        return previous
    found = PurchaseOrderLine.objects.select_related("item", "order").filter(pk=line.pk, order=order).first()
    if found is None:
        raise PurchasingError(f"That line is not on {order.number}.")
    line = found
    if not reason_code.strip():
        raise PurchasingError(f"Say why {line.item.sku} goes back (a reason code, e.g. damaged or wrong item).")
    quantity = _positive_quantity(quantity, line.item)
    returned = returned_quantity(line)
    most = line.received_quantity - returned
    if quantity > most:
        raise PurchasingError(
            f"{line.item.sku}: {quantity_text(line.received_quantity)} received, {quantity_text(returned)} returned "
            f"already; cannot return {quantity_text(quantity)} (at most {quantity_text(most)})."
        )
    if location.kind != LocationKind.INTERNAL or location.warehouse_id != order.warehouse_id:
        raise PurchasingError(f"{location} is not a location of warehouse {order.warehouse.code}, where {order} went.")
    return stock_supplier_return(
        item=line.item,
        quantity=quantity,
        location=location,
        actor=actor,
        lot=(lot or None) if line.item.tracking != Tracking.NONE else None,
        reason_code=reason_code.strip(),
        reference_type=REFERENCE_TYPE,
        reference_id=order.number,
        reference_line=str(line.pk),
        idempotency_key=idempotency_key,
    )

"""The clerk page "Receive order" (``/floor/receive-order/``, docs/floor.md): goods in on a
purchase order with a scanner. It is the floor's "Receive" job with the order first: scan or
type the order number, then item, quantity, lot (and expiry) and bin as usual; the item must
be on the order and the quantity at most what is outstanding. It posts through
``purchasing.services.purchase_order_receive`` (the "receive purchase orders" permission, the
order's row lock, the line's cost) with the form's idempotency key. ``PurchasingConfig.ready``
registers it with ``stock.floor.engine.register_job``, so ``stock`` does not import ``purchasing``."""

from __future__ import annotations

import re

from catalog.permissions import WarehouseAction
from stock.floor.engine import State, Step, Value
from stock.floor.jobs import ReceiveJob
from stock.floor.scanning import FloorError

from .models import OPEN_STATUSES, PurchaseOrder, PurchaseOrderLine
from .services import Receipt, purchase_order_receive, quantity_text

_NUMBER = re.compile(r"(?i)^\s*(?:PO-?)?0*(\d{1,9})\s*$")


def _order_value(order: PurchaseOrder) -> Value:
    outstanding = [line for line in order.lines.select_related("item") if line.outstanding > 0]
    owed = ", ".join(f"{quantity_text(line.outstanding)} {line.item.sku}" for line in outstanding)
    detail = f"{order.supplier.name}: {owed}"
    return Value(f"po:{order.pk}", order, order.number, detail)


class ReceiveOrderJob(ReceiveJob):
    slug = "receive-order"
    title = "Receive order"
    blurb = "Goods in on a purchase order: order, item, quantity, lot, bin"
    done_verb = "Received"
    action = WarehouseAction.RECEIVE_PURCHASES
    carry = ("order",)  # the next item of the same delivery needs no second scan of the order

    def steps(self, st: State) -> list[Step]:
        return [Step("order", "order", "Order", "Scan or type the order number (PO-…)"), *super().steps(st)]

    def _open_order(self, st: State, number: int, shown: str) -> PurchaseOrder:
        order = PurchaseOrder.objects.select_related("supplier", "warehouse").filter(pk=number).first()
        if order is None or order.warehouse_id != st.warehouse.pk:
            raise FloorError(f"There is no purchase order {shown} for warehouse {st.warehouse.code}.")
        if order.status not in OPEN_STATUSES:
            raise FloorError(
                f"{order.number} is {order.get_status_display().lower()}: only a placed order can be received. "
                "Tell the office."
            )
        return order

    def read(self, st: State, step: Step, text: str) -> Value | None:
        if step.kind != "order":
            return None
        found = _NUMBER.match(text)
        if found is None:
            raise FloorError(f'"{text}" is not an order number: scan or type it like PO-000123.')
        return _order_value(self._open_order(st, int(found.group(1)), text.strip()))

    def decode(self, st: State, step: Step, raw: str) -> Value | None:
        if step.kind != "order":
            return None
        if not raw.startswith("po:") or not raw[3:].isdigit():
            raise FloorError("Order: please scan it again.")
        return _order_value(self._open_order(st, int(raw[3:]), raw[3:]))

    def _line(self, st: State) -> PurchaseOrderLine | None:
        order, item = st.get("order"), st.get("item")
        if order is None or item is None:
            return None
        line = order.lines.filter(item=item).first()
        if line is None or line.outstanding <= 0:
            where = "is not on" if line is None else "has all arrived on"
            raise FloorError(f"{item.sku} {where} {order.number}. Set it aside and tell the office.")
        return line

    def validate(self, st: State) -> None:
        super().validate(st)
        line = self._line(st)
        quantity = st.get("quantity")
        if line is not None and quantity is not None and quantity > line.outstanding:
            st.values.pop("quantity", None)
            raise FloorError(
                f"{line.item.sku}: only {quantity_text(line.outstanding)} outstanding on {line.order.number} "
                f"({quantity_text(line.quantity)} ordered, {quantity_text(line.received_quantity)} received). "
                f"Enter {quantity_text(line.outstanding)} or less and set the rest aside."
            )

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        lot = st.get("lot")
        purchase_order_receive(
            order=st.get("order"),
            receipts=[
                Receipt(
                    line=self._line(st),
                    quantity=st.get("quantity"),
                    location=st.get("destination"),
                    lot=getattr(lot, "code", "") if lot is not None else "",
                    expiry_date=st.get("expiry"),
                )
            ],
            actor=actor,
            idempotency_key=idempotency_key,
        )

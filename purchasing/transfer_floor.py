"""The clerk pages "Ship transfer" and "Receive transfer" (``/floor/ship-transfer/``,
``/floor/receive-transfer/``, docs/floor.md): stock sent to another warehouse and received there,
through ``stock.services.transfer_ship`` / ``transfer_arrive`` (which check the rights and the
quantities again under lock). ``PurchasingConfig.ready`` registers them with
``stock.floor.engine.register_job``, so ``stock`` imports nothing of this.

- Ship: from bin, item (lot), quantity, then the warehouse it goes to (its code).
- Receive: the shipment number (the shipping movement's number, "Movement #123" on the page
  after shipping and ``shipment`` in the transfers API; typed as T-123, #123 or 123),
  the quantity (Enter: all still in transit), the bin it goes into.
"""

from __future__ import annotations

import re

from catalog.models import Warehouse
from common.numbers import plain
from stock.floor.engine import Job, State, Step, Value, check_bin, quantity_step
from stock.floor.jobs import MoveJob
from stock.floor.scanning import FloorError
from stock.services import transfer_arrive, transfer_ship

from .transfers import InTransit, stock_in_transit

_SHIPMENT = re.compile(r"(?i)^\s*(?:T-?|#)?0*(\d{1,12})\s*$")


class ShipTransferJob(MoveJob):
    slug = "ship-transfer"
    title = "Ship transfer"
    blurb = "To another warehouse: from bin, item, quantity, to warehouse"
    done_verb = "Shipped"

    def steps(self, st: State) -> list[Step]:
        steps = [step for step in super().steps(st) if step.name != "destination"]
        return [*steps, Step("to_warehouse", "warehouse", "To warehouse", "Type the code of the warehouse it goes to")]

    def _warehouse(self, st: State, found: Warehouse | None, shown: str) -> Value:
        if found is None:
            raise FloorError(f'No warehouse has the code "{shown}".')
        if found.pk == st.warehouse.pk:
            raise FloorError(f"{found.code} is the warehouse you are in: use Move for a move inside it.")
        return Value(f"wh:{found.pk}", found, found.code, found.name)

    def read(self, st: State, step: Step, text: str) -> Value | None:
        if step.kind != "warehouse":
            return None
        return self._warehouse(st, Warehouse.objects.filter(code__iexact=text.strip()).first(), text.strip())

    def decode(self, st: State, step: Step, raw: str) -> Value | None:
        if step.kind != "warehouse":
            return None
        pk = raw[3:] if raw.startswith("wh:") else ""
        return self._warehouse(st, Warehouse.objects.filter(pk=int(pk)).first() if pk.isdigit() else None, raw)

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        transfer_ship(
            item=st.get("item"),
            quantity=st.get("quantity"),
            source=st.get("source"),
            to_warehouse=st.get("to_warehouse"),
            lot=st.get("lot"),
            actor=actor,
            idempotency_key=idempotency_key,
        )


def _shipment_value(open_shipment: InTransit) -> Value:
    detail = f"{plain(open_shipment.quantity)} {open_shipment.item.sku} from {open_shipment.from_warehouse.code}"
    return Value(f"shipment:{open_shipment.shipment.pk}", open_shipment, f"T-{open_shipment.shipment.pk}", detail)


class ReceiveTransferJob(Job):
    slug = "receive-transfer"
    title = "Receive transfer"
    blurb = "From another warehouse: shipment, quantity, bin"
    done_verb = "Received"

    def steps(self, st: State) -> list[Step]:
        return [
            Step("shipment", "shipment", "Shipment", "Scan or type the shipment number (T-…)"),
            quantity_step(st),
            Step("destination", "bin", "Bin", "Scan the bin you put it in"),
        ]

    def _open(self, st: State, pk: int, shown: str) -> Value:
        found = next((t for t in stock_in_transit(warehouse=st.warehouse) if t.shipment.pk == pk), None)
        if found is None or found.to_warehouse != st.warehouse.code:
            raise FloorError(f"Nothing of shipment {shown} is on its way to {st.warehouse.code}. Tell the office.")
        return _shipment_value(found)

    def read(self, st: State, step: Step, text: str) -> Value | None:
        if step.kind != "shipment":
            return None
        found = _SHIPMENT.match(text)
        if found is None:
            raise FloorError(f'"{text}" is not a shipment number: scan or type it like T-123.')
        return self._open(st, int(found.group(1)), text.strip())

    def decode(self, st: State, step: Step, raw: str) -> Value | None:
        if step.kind != "shipment":
            return None
        pk = raw.removeprefix("shipment:")
        if not pk.isdigit():
            raise FloorError("Shipment: please scan it again.")
        return self._open(st, int(pk), pk)

    def blank_ok(self, st: State, step: Step) -> Value | None:
        open_shipment = st.get("shipment")
        if step.kind == "quantity" and open_shipment is not None:  # Enter: all that is still in transit
            return Value(plain(open_shipment.quantity), open_shipment.quantity, plain(open_shipment.quantity))
        return None

    def validate(self, st: State) -> None:
        if st.has("destination"):
            check_bin(st.get("destination"), st.warehouse)
        open_shipment, quantity = st.get("shipment"), st.get("quantity")
        if open_shipment is not None and quantity is not None and quantity > open_shipment.quantity:
            st.values.pop("quantity", None)
            raise FloorError(
                f"Only {plain(open_shipment.quantity)} of {open_shipment.item.sku} is still in transit on "
                f"T-{open_shipment.shipment.pk}. Enter {plain(open_shipment.quantity)} or less."
            )

    def post(self, st: State, *, actor, idempotency_key: str) -> None:  # noqa: ANN001
        transfer_arrive(
            shipment=st.get("shipment").shipment,
            destination=st.get("destination"),
            quantity=st.get("quantity"),
            actor=actor,
            idempotency_key=idempotency_key,
        )

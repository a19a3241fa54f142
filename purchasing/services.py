"""Purchasing's business actions: purchase orders from draft to received, and draft orders
from the reorder suggestions. The only writer of purchase orders.

Permissions (docs/roles.md): creating, placing and cancelling an order needs the model
permission (``purchasing.add_purchaseorder`` / ``change_purchaseorder``) and the right to view
stock in the order's warehouse; receiving needs the warehouse's "receive purchase orders"
permission, which ``stock.services.purchase_receipts_post`` checks again. ``actor=None`` is the
system (jobs, the demo), allowed everything.

Every refusal raises ``PurchasingError`` (or the ledger's own ``StockError``) before anything
is written: the order, its lines and the stock are as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.models import Item, ItemStatus, Location, LocationKind, Tracking, Warehouse
from catalog.permissions import WarehouseAction, warehouse_require
from catalog.units import QuantityProblem, quantity_problem
from common.actors import Actor
from common.numbers import plain
from stock.models import QTY_STEP, Movement
from stock.services import (
    MovementLine,
    StockError,
    movements_for_key,
    purchase_receipts_post,
    receipt_line,
)

from .models import (
    OPEN_STATUSES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    Supplier,
    SupplierItem,
)

REFERENCE_TYPE = "purchasing.purchase-order"


class PurchasingError(StockError):
    """A refused purchasing action; ``str()`` says why in plain words; 400 at the API (the
    request cannot be done as asked; a stock refusal inside a receipt keeps its own status)."""

    code = "purchasing_error"
    http_status = 400


class PurchaseQuantityFinerThanUnit(PurchasingError):
    """An ordered or received quantity finer than the item's unit allows; ``problem``
    (catalog.units.QuantityProblem) carries sku, unit, decimal_places and quantity."""

    code = "quantity_finer_than_unit"

    def __init__(self, problem: QuantityProblem) -> None:
        super().__init__(problem.message, sku=problem.sku, unit=problem.unit, quantity=problem.quantity)
        self.problem = problem


@dataclass(frozen=True)
class OrderLine:
    """A line to order: ``quantity`` base units of ``item``; ``unit_cost`` None means the
    supplier's price for the item, else the item's standard cost."""

    item: Item
    quantity: Decimal
    unit_cost: Decimal | None = None


@dataclass(frozen=True)
class Receipt:
    """``quantity`` of an order line arriving at ``location``; ``lot`` (and, for a new lot of
    a perishable item, ``expiry_date``) for lot-tracked items."""

    line: PurchaseOrderLine
    quantity: Decimal
    location: Location
    lot: str = ""
    expiry_date: date | None = None


quantity_text = plain  # a quantity as people write it: 30, 2.5 (not 30.0000 or 3E+1)


def _history_user(obj: object, actor: Actor | None) -> None:
    if actor is not None:
        obj._history_user = actor  # type: ignore[attr-defined]


def _positive_quantity(value: Decimal, item: Item) -> Decimal:
    what = item.sku
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise PurchasingError(f"The quantity of {what} must be a number above zero (got {value}).")
    if value != value.quantize(QTY_STEP):
        raise PurchasingError(f"The quantity of {what} has more than 4 decimal places ({value}).")
    if problem := quantity_problem(item, value):  # the unit's rule (catalog.units), as the ledger's
        raise PurchaseQuantityFinerThanUnit(problem)
    return value


def supplier_price(*, supplier: Supplier, item: Item) -> Decimal:
    """What ``supplier`` charges per base unit of ``item``: its supplier item's price, else the
    item's standard cost."""
    offer = SupplierItem.objects.filter(supplier=supplier, item=item).only("unit_cost").first()
    return item.standard_cost if offer is None else offer.unit_cost


@transaction.atomic
def purchase_order_create(
    *,
    supplier: Supplier,
    warehouse: Warehouse,
    lines: Sequence[OrderLine],
    actor: Actor | None,
    expected_on: date | None = None,
    notes: str = "",
) -> PurchaseOrder:
    """A draft order of ``lines`` (each item once, active, quantity > 0 with at most 4
    decimals, cost >= 0) from an active supplier for ``warehouse``."""
    warehouse_require(actor, warehouse, WarehouseAction.VIEW, model_perm="purchasing.add_purchaseorder")
    if not supplier.active:
        raise PurchasingError(f"Supplier {supplier.code} is inactive: activate it or order elsewhere.")
    if not lines:
        raise PurchasingError("An order needs at least one line.")
    rows = _order_rows(supplier, lines)
    order = PurchaseOrder(
        supplier=supplier, warehouse=warehouse, expected_on=expected_on, notes=notes, created_by=actor
    )
    _history_user(order, actor)
    order.save()
    for row in rows:
        row.order = order
        _history_user(row, actor)
        row.save()
    return order


def _locked(order: PurchaseOrder) -> PurchaseOrder:
    """The order re-read under its row lock (that row only, not its supplier's or warehouse's):
    status changes and receipts of one order queue, and its lines change only under it."""
    return (
        PurchaseOrder.objects.select_for_update(of=("self",)).select_related("supplier", "warehouse").get(pk=order.pk)
    )


@transaction.atomic
def purchase_order_place(*, order: PurchaseOrder, actor: Actor | None) -> PurchaseOrder:
    """Draft -> ordered: the lines are fixed from now on. ``expected_on``, when empty, becomes
    today plus the longest lead time of the lines' supplier items (else the supplier's). When
    the supplier has an e-mail address, mailing it the order (``tasks.send_purchase_order``) is
    enqueued once the placing commits."""
    order = _locked(order)
    warehouse_require(actor, order.warehouse, WarehouseAction.VIEW, model_perm="purchasing.change_purchaseorder")
    if order.status != PurchaseOrderStatus.DRAFT:
        raise PurchasingError(f"{order.number} is {order.get_status_display().lower()}: only a draft can be placed.")
    items = list(order.lines.values_list("item_id", flat=True))
    if not items:
        raise PurchasingError(f"{order.number} has no lines: add what to order first.")
    if not order.supplier.active:
        raise PurchasingError(f"Supplier {order.supplier.code} is inactive: activate it or order elsewhere.")
    if order.expected_on is None:
        offers = SupplierItem.objects.filter(supplier=order.supplier, item_id__in=items).select_related("supplier")
        days = max([o.effective_lead_time_days for o in offers], default=order.supplier.lead_time_days)
        order.expected_on = timezone.localdate() + timedelta(days=days)
    order.status = PurchaseOrderStatus.ORDERED
    order.ordered_at = timezone.now()
    _history_user(order, actor)
    order.save(update_fields=["status", "ordered_at", "expected_on"])
    if order.supplier.email:
        from .tasks import send_purchase_order  # tasks import the services: imported here, when used

        send_purchase_order.delay_on_commit(order.pk)
    return order


@transaction.atomic
def purchase_order_cancel(*, order: PurchaseOrder, actor: Actor | None) -> PurchaseOrder:
    """Draft or ordered -> cancelled, as long as nothing was received (received stock stays
    on the order: receive the rest or leave it open)."""
    order = _locked(order)
    warehouse_require(actor, order.warehouse, WarehouseAction.VIEW, model_perm="purchasing.change_purchaseorder")
    if order.status not in (PurchaseOrderStatus.DRAFT, PurchaseOrderStatus.ORDERED):
        raise PurchasingError(
            f"{order.number} is {order.get_status_display().lower()}: only a draft or an order with nothing "
            "received can be cancelled."
        )
    order.status = PurchaseOrderStatus.CANCELLED
    _history_user(order, actor)
    order.save(update_fields=["status"])
    return order


def over_receipt_percent(order: PurchaseOrder, item_ids: Sequence[int]) -> dict[int, Decimal]:
    """Per item id, how much more than ordered may arrive, in %: the supplier item's tolerance,
    else the supplier's (default 0)."""
    offers = SupplierItem.objects.filter(
        supplier=order.supplier, item_id__in=item_ids, over_receipt_percent__isnull=False
    )
    percent = dict.fromkeys(item_ids, order.supplier.over_receipt_percent)
    percent.update({o.item_id: o.over_receipt_percent for o in offers if o.over_receipt_percent is not None})
    return percent


def _receipt_problems(
    order: PurchaseOrder, lines: dict[int, PurchaseOrderLine], receipts: Sequence[Receipt]
) -> tuple[dict[int, Decimal], list[PurchasingError]]:
    """What arrives per line id, and every refusal among ``receipts`` (not only the first): a
    line of another order, a bad quantity, more than ordered plus the tolerance, a location
    outside the order's warehouse, a lot on an untracked item."""
    arriving: dict[int, Decimal] = {}
    problems: list[PurchasingError] = []
    for receipt in receipts:
        line = lines.get(receipt.line.pk)
        if line is None:
            problems.append(PurchasingError(f"Line {receipt.line} is not on {order.number}."))
            continue
        try:
            quantity = _positive_quantity(receipt.quantity, line.item)
        except PurchasingError as refused:
            problems.append(refused)
            continue
        arriving[line.pk] = arriving.get(line.pk, Decimal(0)) + quantity
        location = receipt.location
        if location.kind != LocationKind.INTERNAL or location.warehouse_id != order.warehouse_id:
            problems.append(
                PurchasingError(
                    f"{location} is not a location of warehouse {order.warehouse.code}, where {order} goes."
                )
            )
        if line.item.tracking == Tracking.NONE and receipt.lot:
            problems.append(PurchasingError(f"{line.item.sku} is not lot-tracked: receive it without a lot."))
    tolerance = over_receipt_percent(order, [lines[pk].item_id for pk in arriving])
    for pk, quantity in arriving.items():
        line = lines[pk]
        percent = tolerance[line.item_id]
        most = line.quantity * (100 + percent) / 100 - line.received_quantity
        if quantity > most:
            allowed = (
                f" ({order.supplier.code} accepts {plain(percent)} % over: at most {plain(most)})" if percent else ""
            )
            problems.append(
                PurchasingError(
                    f"{line.item.sku}: {quantity_text(line.quantity)} ordered, "
                    f"{quantity_text(line.received_quantity)} received, {quantity_text(line.outstanding)} "
                    f"outstanding; cannot receive {quantity_text(quantity)}{allowed}."
                )
            )
    return arriving, problems


def _receipt_line(
    order: PurchaseOrder, receipt: Receipt, occurred_at: datetime | None, supplier: Location
) -> MovementLine:
    """The receipt of ``receipt`` (checked by ``_receipt_problems``) at the line's cost, built by
    ``stock.services.receipt_line`` (a new lot is received on ``occurred_at``'s date)."""
    line, item, location = receipt.line, receipt.line.item, receipt.location
    return receipt_line(
        item=item,
        quantity=receipt.quantity,
        destination=location,
        occurred_at=occurred_at,
        # A tracked item's lot code, even when empty: refused then as "give a lot code".
        lot=None if item.tracking == Tracking.NONE else receipt.lot,
        expiry_date=receipt.expiry_date,
        unit_cost=line.unit_cost,
        reference_type=REFERENCE_TYPE,
        reference_id=order.number,
        reference_line=str(line.pk),
        supplier=supplier,
    )


def purchase_order_receipt_problems(*, order: PurchaseOrder, receipts: Sequence[Receipt]) -> list[PurchasingError]:
    """Every refusal ``purchase_order_receive`` would give ``receipts`` before posting (read
    only, no lock): for a page that must show them with its own."""
    lines = {line.pk: line for line in order.lines.select_related("item")}
    return _receipt_problems(order, lines, receipts)[1]


@transaction.atomic
def purchase_order_receive(
    *,
    order: PurchaseOrder,
    receipts: Sequence[Receipt],
    actor: Actor | None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Movement]:
    """Receive goods of an ordered (or partially received) order: one receipt movement per
    ``Receipt`` from the supplier location at the line's unit cost, posted as one batch through
    ``stock.services.purchase_receipts_post``; each line's ``received_quantity`` grows and the
    order becomes partially received or received.

    Locks the order first, so two clerks receiving the same order queue and cannot receive a
    line twice over. Refuses (writing nothing) a line of another order, a quantity beyond what
    is outstanding plus the over-receipt tolerance (``over_receipt_percent``; naming ordered,
    received and outstanding), a location outside the order's warehouse and a lot where none
    belongs or none where one must be; every such problem of the request at once (one: its own
    error; more: one ``PurchasingError`` listing them in ``problems``). The same
    ``idempotency_key`` returns the first receipt's movements and changes nothing."""
    order = _locked(order)
    warehouse_require(actor, order.warehouse, WarehouseAction.RECEIVE_PURCHASES)
    if idempotency_key is not None and (previous := movements_for_key(idempotency_key.strip())):
        return previous
    if order.status not in OPEN_STATUSES:
        raise PurchasingError(
            f"{order.number} is {order.get_status_display().lower()}: only a placed order can be received."
        )
    if not receipts:
        raise PurchasingError(f"Nothing to receive on {order.number}: give at least one quantity.")
    lines = {line.pk: line for line in order.lines.select_related("item")}  # the order's lock covers them
    arriving, problems = _receipt_problems(order, lines, receipts)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise PurchasingError(
            f"{len(problems)} problems, nothing received: " + " ".join(str(p) for p in problems),
            problems=[str(p) for p in problems],
        )
    supplier = Location.objects.virtual(LocationKind.SUPPLIER)
    movement_lines = [
        _receipt_line(
            order, Receipt(lines[r.line.pk], r.quantity, r.location, r.lot, r.expiry_date), occurred_at, supplier
        )
        for r in receipts
    ]
    movements = purchase_receipts_post(
        lines=movement_lines, actor=actor, idempotency_key=idempotency_key, occurred_at=occurred_at
    )
    for pk, quantity in arriving.items():
        # A plain save under the order's lock (no other receipt of this order runs now), so the
        # line's history records each receipt with who received it.
        line = lines[pk]
        line.received_quantity += quantity
        _history_user(line, actor)
        line.save(update_fields=["received_quantity"])
    fully = all(line.outstanding == 0 for line in lines.values())
    order.status = PurchaseOrderStatus.RECEIVED if fully else PurchaseOrderStatus.PARTIALLY_RECEIVED
    _history_user(order, actor)
    order.save(update_fields=["status"])
    return movements


def _order_rows(supplier: Supplier, lines: Sequence[OrderLine]) -> list[PurchaseOrderLine]:
    """Unsaved lines of ``lines`` (each item once, active, quantity > 0 and fit for its unit,
    cost >= 0; unit cost None: the supplier's price), or the first refusal."""
    seen: set[int] = set()
    rows = []
    for line in lines:
        item = line.item
        if item.pk in seen:
            raise PurchasingError(f"{item.sku} is on two lines: put the whole quantity on one.")
        seen.add(item.pk)
        if item.status != ItemStatus.ACTIVE:
            raise PurchasingError(f"{item.sku} is discontinued: it cannot be ordered.")
        quantity = _positive_quantity(line.quantity, item)
        cost = supplier_price(supplier=supplier, item=item) if line.unit_cost is None else line.unit_cost
        if cost < 0:
            raise PurchasingError(f"The unit cost of {item.sku} cannot be negative ({cost}).")
        rows.append(PurchaseOrderLine(item=item, quantity=quantity, unit_cost=cost))
    return rows


@transaction.atomic
def purchase_order_lines_set(*, order: PurchaseOrder, lines: Sequence[OrderLine], actor: Actor | None) -> PurchaseOrder:
    """Set lines of a draft: an item already on it gets the new quantity and cost (not a second
    line, not the sum), a new item a new line; other lines stay. Locks the order; refuses,
    writing nothing, an order that is no longer a draft and any line ``purchase_order_create``
    would refuse."""
    order = _locked(order)
    warehouse_require(actor, order.warehouse, WarehouseAction.VIEW, model_perm="purchasing.change_purchaseorder")
    if order.status != PurchaseOrderStatus.DRAFT:
        raise PurchasingError(f"{order.number} is {order.get_status_display().lower()}: only a draft's lines change.")
    if not order.supplier.active:
        raise PurchasingError(f"Supplier {order.supplier.code} is inactive: activate it or order elsewhere.")
    existing = {line.item_id: line for line in order.lines.all()}
    for row in _order_rows(order.supplier, lines):
        line = existing.get(row.item.pk, row)
        line.order, line.quantity, line.unit_cost = order, row.quantity, row.unit_cost
        _history_user(line, actor)
        line.save()
    return order


@transaction.atomic
def purchase_orders_from_suggestions(*, suggestions: Sequence, actor: Actor | None) -> list[PurchaseOrder]:
    """Draft orders for ``suggestions`` (``purchasing.selectors.reorder_suggestions``, possibly
    edited: another quantity or supplier item): one per (supplier, warehouse), each line the
    suggested quantity at that offer's price. An existing draft of the same supplier and
    warehouse takes the lines (``purchase_order_lines_set``), so running it again changes the
    drafts' quantities instead of making more drafts. Suggestions without a supplier are
    skipped (give the item a supplier first). All or nothing."""
    groups: dict[tuple[int, int], list] = {}
    for suggestion in suggestions:
        if suggestion.supplier_item is not None:
            key = (suggestion.supplier_item.supplier_id, suggestion.warehouse.pk)
            groups.setdefault(key, []).append(suggestion)
    orders = []
    for (supplier_id, warehouse_id), group in groups.items():
        first = group[0]
        lines = [OrderLine(s.item, s.quantity, s.supplier_item.unit_cost) for s in group]
        draft = (
            PurchaseOrder.objects.filter(
                supplier_id=supplier_id, warehouse_id=warehouse_id, status=PurchaseOrderStatus.DRAFT
            )
            .order_by("id")
            .first()
        )
        if draft is not None:
            orders.append(purchase_order_lines_set(order=draft, lines=lines, actor=actor))
            continue
        orders.append(
            purchase_order_create(
                supplier=first.supplier_item.supplier,
                warehouse=first.warehouse,
                lines=lines,
                actor=actor,
                notes="Created from the reorder suggestions.",
            )
        )
    return orders

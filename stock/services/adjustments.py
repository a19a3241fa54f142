"""Adjustments awaiting approval (the clerk pages' scrap / adjust).

Scrap and adjustments from the floor post at once when small; above the approval limits
(settings STOCK_ADJUSTMENT_APPROVAL_QUANTITY and STOCK_ADJUSTMENT_APPROVAL_VALUE), or when the
asker may not adjust stock themselves, they become an ``AdjustmentRequest`` that posts only
when a manager of the warehouse approves it (in the admin). Approval locks the request row
first (a document row), then posts through ``stock_scrap``/``stock_adjust``, which lock levels
and valuations in the usual order: the protocol of the package holds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Item, Location, Warehouse
from catalog.permissions import WarehouseAction, WarehousePermissionDenied, warehouse_allows, warehouse_require
from common.actors import Actor

from ..models import (
    MONEY_STEP,
    AdjustmentRequest,
    AdjustmentRequestKind,
    AdjustmentRequestStatus,
    ItemValuation,
    Lot,
    Movement,
    MovementKind,
)
from ..selectors import stock_on_hand
from .actions import stock_adjust, stock_scrap
from .batches import StockRequest, _request_line
from .costing import _current_unit_cost
from .errors import InsufficientStock, InvalidMovement, _fmt
from .lines import _approval_limits, _quantity, _require_reason, _validate_line
from .lots import _existing_lot
from .posting import movements_for_key


@dataclass(frozen=True)
class AdjustmentOutcome:
    """What ``adjustment_submit`` did: posted ``movements`` at once, or filed ``request``."""

    movements: list[Movement]
    request: AdjustmentRequest | None = None  # waiting for approval

    @property
    def waiting(self) -> bool:
        return self.request is not None and not self.movements


def adjustment_unit_cost(*, item: Item, warehouse: Warehouse) -> Decimal:
    """The unit cost an adjustment of ``item`` in ``warehouse`` would carry now (moving average,
    else the last cost, else the item's standard cost): what the value limit is checked with."""
    valuation = ItemValuation.objects.filter(item=item, warehouse=warehouse).first()
    return item.standard_cost if valuation is None else _current_unit_cost(valuation, item)


def adjustment_approval_reason(
    *,
    kind: str,
    item: Item,
    location: Location,
    quantity_delta: Decimal,
    actor: Actor | None,
    unit_cost: Decimal | None = None,
) -> str:
    """Why this scrap or adjustment needs a manager's approval, in words for the asker; ``""``
    when it may post at once. Reads only (no lock): the decision is advisory, the posting
    services still check stock and permissions when it posts."""
    limit_quantity, limit_value = _approval_limits()
    size = abs(_quantity(quantity_delta))
    if size > limit_quantity:
        return f"{_fmt(size)} {item.base_unit.code} is more than the approval limit of {_fmt(limit_quantity)}"
    if unit_cost is None:
        unit_cost = adjustment_unit_cost(item=item, warehouse=location.home_warehouse)
    value = (size * unit_cost).quantize(Decimal("0.01"))
    if value > limit_value:
        currency = getattr(settings, "CURRENCY", "")
        return f"its value {currency} {value} is above the approval limit of {currency} {limit_value:.2f}"
    if (
        kind == "adjustment"
        and actor is not None
        and not warehouse_allows(actor, location.warehouse, WarehouseAction.ADJUST)
    ):
        return f"{actor} may not adjust stock in {location.home_warehouse.code} without a manager's approval"
    return ""


def adjustment_submit(
    *,
    kind: str,
    item: Item,
    location: Location,
    quantity_delta: Decimal,
    reason_code: str,
    actor: Actor | None,
    lot: Lot | str | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> AdjustmentOutcome:
    """Scrap (``kind="scrap"``, a negative ``quantity_delta``) or adjust (``"adjustment"``, a gain
    or a loss) at ``location``: posted at once through ``stock_scrap``/``stock_adjust`` when
    ``adjustment_approval_reason`` finds no reason to wait, otherwise filed as a pending
    ``AdjustmentRequest`` (nothing moves). The asker needs ``stock.add_movement`` and the
    warehouse's "post" or "adjust" permission. With an ``idempotency_key`` already used, returns
    the first outcome (its movements or its request) and writes nothing."""
    if idempotency_key:
        if previous := movements_for_key(idempotency_key):
            return AdjustmentOutcome(movements=previous)
        if request := AdjustmentRequest.objects.filter(idempotency_key=idempotency_key).first():
            return AdjustmentOutcome(movements=[], request=request)
    if kind not in AdjustmentRequestKind.values:
        raise InvalidMovement(f"Unknown kind {kind!r}: scrap or adjustment.")
    reason_code = _require_reason(reason_code, "scrap" if kind == AdjustmentRequestKind.SCRAP else "stock adjustment")
    delta = _quantity(quantity_delta, "quantity change")
    if delta == 0:
        raise InvalidMovement("A change of zero changes nothing.")
    if kind == AdjustmentRequestKind.SCRAP and delta > 0:
        raise InvalidMovement("A scrap takes stock out: its change is negative.")
    if not location.is_internal:
        raise InvalidMovement(f"{location} is not a location in a warehouse.")
    warehouse = location.home_warehouse
    # Asking needs the right to post there ("post" or "adjust"); approving needs more.
    if not _warehouse_allows_any(actor, warehouse, (WarehouseAction.POST, WarehouseAction.ADJUST)):
        warehouse_require(actor, warehouse, WarehouseAction.POST, model_perm="stock.add_movement")
    warehouse_require(actor, None, WarehouseAction.POST, model_perm="stock.add_movement")
    unit_cost = adjustment_unit_cost(item=item, warehouse=warehouse)
    why = adjustment_approval_reason(
        kind=kind, item=item, location=location, quantity_delta=delta, actor=actor, unit_cost=unit_cost
    )
    if not why:
        if kind == AdjustmentRequestKind.SCRAP:
            movements = stock_scrap(
                item=item,
                quantity=-delta,
                location=location,
                lot=lot,
                reason_code=reason_code,
                actor=actor,
                note=note,
                idempotency_key=idempotency_key,
            )
        else:
            movements = [
                stock_adjust(
                    item=item,
                    location=location,
                    quantity_delta=delta,
                    lot=lot,
                    reason_code=reason_code,
                    actor=actor,
                    note=note,
                    idempotency_key=idempotency_key,
                )
            ]
        return AdjustmentOutcome(movements=movements)
    if actor is None:
        raise InvalidMovement(f"This change needs a manager's approval ({why}), and a system job cannot ask for one.")
    the_lot = _existing_lot(item, lot)
    # The line the approval would post (built by the one request builder; the lot exists, so
    # nothing is written), checked now with the same refusals, before anyone approves.
    planned = StockRequest(
        kind=MovementKind.ADJUSTMENT,
        item=item,
        quantity=delta,
        destination=location,
        lot=the_lot,
        reason_code=reason_code,
        rounds_off=True,
    )
    _validate_line(_request_line(planned, timezone.now()))
    if delta < 0:
        available = stock_on_hand(item=item, location=location, lot=the_lot, include_sublocations=False).available
        if available < -delta:
            raise InsufficientStock(item=item, location=location, lot=the_lot, asked=-delta, available=available)
    try:
        with transaction.atomic():
            request = AdjustmentRequest.objects.create(
                warehouse=warehouse,
                item=item,
                location=location,
                lot=the_lot,
                kind=kind,
                quantity=delta,
                reason_code=reason_code,
                note=note,
                unit_cost=unit_cost,
                value=(abs(delta) * unit_cost).quantize(MONEY_STEP),
                approval_reason=why[:200],
                requested_by=actor,
                idempotency_key=idempotency_key or None,
            )
    except IntegrityError:
        if idempotency_key and (request := AdjustmentRequest.objects.filter(idempotency_key=idempotency_key).first()):
            return AdjustmentOutcome(movements=[], request=request)
        raise
    return AdjustmentOutcome(movements=[], request=request)


def _warehouse_allows_any(actor: Actor | None, warehouse: Warehouse, actions: Iterable[str]) -> bool:
    """True if ``actor`` may do at least one of ``actions`` in ``warehouse``."""
    return any(warehouse_allows(actor, warehouse, action) for action in actions)


class _ApprovedPosting(TypedDict):
    """What an approved request's scrap or adjustment posts with, besides its quantity."""

    item: Item
    location: Location
    lot: Lot | None
    reason_code: str
    actor: Actor | None
    idempotency_key: str
    reference_type: str
    reference_id: str
    note: str


def _lock_pending_request(request: AdjustmentRequest) -> AdjustmentRequest:
    locked = (
        AdjustmentRequest.objects.select_for_update(of=("self",))
        .select_related("item", "location__warehouse", "lot", "requested_by", "warehouse")
        .get(pk=request.pk)
    )
    if not locked.is_pending:
        raise InvalidMovement(f"Request #{locked.pk} is already {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def adjustment_request_approve(*, request: AdjustmentRequest, actor: Actor | None, note: str = "") -> AdjustmentRequest:
    """Approve a pending request and post it, in one transaction: the request row is locked
    first (so two managers cannot post it twice), then ``stock_scrap``/``stock_adjust`` post with
    the approver as actor, referencing the request. The approver needs the warehouse's
    "approve" permission (and what the posting needs) and must not be the one who asked. A
    refused posting (stock gone meanwhile) rolls back and leaves the request pending."""
    request = _lock_pending_request(request)
    warehouse_require(actor, request.warehouse, WarehouseAction.APPROVE, model_perm="stock.add_movement")
    if actor is not None and actor.pk == request.requested_by_id:
        raise WarehousePermissionDenied(f"{actor} asked for request #{request.pk}: another manager must approve it.")
    common: _ApprovedPosting = {
        "item": request.item,
        "location": request.location,
        "lot": request.lot,
        "reason_code": request.reason_code,
        "actor": actor,
        "idempotency_key": f"adjustment-request:{request.pk}",
        "reference_type": "stock.adjustmentrequest",
        "reference_id": str(request.pk),
        "note": " ".join(p for p in (f"Asked by {request.requested_by} on the floor.", request.note, note) if p),
    }
    if request.kind == AdjustmentRequestKind.SCRAP:
        movement = stock_scrap(quantity=-request.quantity, **common)[0]
    else:
        movement = stock_adjust(quantity_delta=request.quantity, **common)
    request.status = AdjustmentRequestStatus.APPROVED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.movement = movement
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "movement"])
    return request


@transaction.atomic
def adjustment_request_reject(*, request: AdjustmentRequest, actor: Actor | None, note: str = "") -> AdjustmentRequest:
    """Turn a pending request down with the reason (``note``, required: the asker is told why);
    nothing is posted. Needs the warehouse's "approve" permission."""
    note = (note or "").strip()
    if not note:
        raise InvalidMovement("Give the reason for rejecting the request.")
    request = _lock_pending_request(request)
    warehouse_require(actor, request.warehouse, WarehouseAction.APPROVE)
    request.status = AdjustmentRequestStatus.REJECTED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return request

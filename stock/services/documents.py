"""The two business actions whose request names a document row: a reversal (the movement it
undoes) and an arrival (the shipment that arrives). ``batches.requests_post`` locks that row
first (``document_lock``, step 1 of the lock order, before any level) and ``batches._request_line``
builds the line from the locked row with the rules here; the line is then posted like every
other (ONE ``movement_post``). Nothing here writes."""

from __future__ import annotations

from decimal import Decimal

from catalog.models import Location, LocationKind

from ..models import MONEY_STEP, ZERO, Movement, MovementKind
from ..selectors import ARRIVAL_REFERENCE, SHIPMENT_REFERENCE, shipment_arrivals
from .errors import AlreadyReversed, InvalidMovement, _fmt
from .lines import MovementLine, _quantity, _virtual


def document_lock(document: Movement) -> Movement:
    """The document row (a movement being reversed, a shipment arriving) read afresh under
    ``SELECT ... FOR UPDATE``: two reversals of one movement, or two arrivals of one shipment,
    wait for each other here, and the second sees what the first posted."""
    return (
        Movement.objects.select_for_update(of=("self",))
        .select_related("item", "lot", "source__warehouse", "destination__warehouse")
        .get(pk=document.pk)
    )


def shipment_arrived_quantity(shipment: Movement) -> Decimal:
    """How much of a shipment has arrived (net of reversed arrivals)."""
    return sum((m.quantity for m in shipment_arrivals([shipment.pk])), ZERO)


def arrival_line(shipment: Movement, *, destination: Location, quantity: Decimal | None, note: str) -> MovementLine:
    """The line of an arrival of (part of) the locked ``shipment`` at ``destination``: from the
    in-transit location, at the cost the shipment left with; ``quantity`` None is all that is
    still in transit. The last arrival carries exactly what is left of the shipment's value."""
    transit = _virtual(LocationKind.TRANSIT)
    if shipment.destination_id != transit.pk or Movement.objects.filter(reverses=shipment).exists():
        raise InvalidMovement(f"Movement #{shipment.pk} is not an open shipment.")
    if not destination.is_internal or destination.home_warehouse.code != shipment.reference_line:
        raise InvalidMovement(
            f"Shipment #{shipment.pk} goes to warehouse {shipment.reference_line}, not to {destination}."
        )
    open_quantity = shipment.quantity - shipment_arrived_quantity(shipment)
    quantity = open_quantity if quantity is None else _quantity(quantity)
    if quantity <= 0 or quantity > open_quantity:
        raise InvalidMovement(
            f"Shipment #{shipment.pk} has {_fmt(open_quantity)} still in transit; cannot arrive {_fmt(quantity)}."
        )
    total_cost = None
    if quantity == open_quantity:  # the last arrival carries exactly what is left of the value
        arrived_value = sum((m.total_cost for m in shipment_arrivals([shipment.pk])), ZERO)
        total_cost = shipment.total_cost - arrived_value
        unit_cost = total_cost / quantity
    else:
        unit_cost = shipment.unit_cost
    return MovementLine(
        item=shipment.item,
        quantity=quantity,
        source=transit,
        destination=destination,
        kind=MovementKind.TRANSFER,
        lot=shipment.lot,
        unit_cost=unit_cost.quantize(MONEY_STEP),
        total_cost=total_cost,
        note=note,
        reference_type=ARRIVAL_REFERENCE,
        reference_id=str(shipment.pk),
    )


def reversible_check(original: Movement) -> None:
    """Refuse to reverse the locked ``original`` when that is not allowed: a reversal is not
    reversed (post the movement again instead), a movement is reversed at most once, and not
    while returns or value entries name it, nor a shipment while arrivals of it stand."""
    if original.kind == MovementKind.REVERSAL:
        raise InvalidMovement(f"Movement #{original.pk} is itself a reversal; post the movement again instead.")
    if Movement.objects.filter(reverses=original).exists():
        raise AlreadyReversed(f"Movement #{original.pk} has already been reversed.")
    named_by = list(
        Movement.objects.filter(origin=original, reversed_by__isnull=True)
        .exclude(kind__in=[MovementKind.COST_CORRECTION, MovementKind.REVERSAL])
        .values_list("pk", flat=True)
    )
    if named_by:
        listed = ", ".join(f"#{pk}" for pk in named_by)
        raise InvalidMovement(
            f"Movement #{original.pk} has returns or value entries naming it ({listed}); reverse those first."
        )
    if original.reference_type == SHIPMENT_REFERENCE and shipment_arrived_quantity(original) > 0:
        raise InvalidMovement(f"Shipment #{original.pk} has arrivals; reverse those first.")

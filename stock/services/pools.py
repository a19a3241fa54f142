"""The valuation pools of one batch as the costing sees them: what each line does to valuation
(``_Costing``), the state the lines of a batch share (``_Batch``), and the pool's open FIFO
layers and open shortfalls, each loaded once per pool under the valuation locks
(``_open_layers``, ``_shortfalls``). ``costing`` and ``shortfalls`` both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..models import ZERO, CostLayer
from .lines import MovementLine, ValuationKey


@dataclass
class _Costing:
    """What one line does to valuation, computed under lock before anything is inserted.
    ``corrections``: the cost corrections it causes, each a quantity-0 line whose ``origin`` is
    the movement corrected, or None with ``origin_index`` naming an earlier line of the batch
    (a shortfall posted in the same batch, whose movement does not exist yet)."""

    total_cost: Decimal = ZERO
    new_layers: list[CostLayer] = field(default_factory=list)
    consumptions: list[tuple[CostLayer, Decimal, Decimal]] = field(default_factory=list)
    corrections: list[tuple[MovementLine, int | None]] = field(default_factory=list)


@dataclass
class _Batch:
    """The state shared by the lines of one batch: open FIFO layers and shortfalls per pool
    (each loaded once, new ones added as lines create them), and the line being costed."""

    layers: dict[ValuationKey, list[CostLayer]] = field(default_factory=dict)
    shortfalls: dict[ValuationKey, list[CostLayer]] = field(default_factory=dict)
    index: int = 0
    origins: dict[int, tuple[int, MovementLine]] = field(default_factory=dict)  # id(layer) -> (line no., line)


def _open_layers(key: ValuationKey, batch: _Batch) -> list[CostLayer]:
    if key not in batch.layers:
        batch.layers[key] = list(
            CostLayer.objects.filter(item_id=key[0], warehouse_id=key[1], remaining_quantity__gt=0).order_by(
                "received_at", "id"
            )
        )
    return batch.layers[key]


def _shortfalls(key: ValuationKey, batch: _Batch) -> list[CostLayer]:
    """The pool's open shortfalls, oldest first (with the movements that caused them)."""
    if key not in batch.shortfalls:
        batch.shortfalls[key] = list(
            CostLayer.objects.filter(item_id=key[0], warehouse_id=key[1], remaining_quantity__lt=0)
            .select_related("movement__source", "movement__destination", "movement__lot")
            .order_by("received_at", "id")
        )
    return batch.shortfalls[key]

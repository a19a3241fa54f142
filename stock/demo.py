"""Demo stock on top of ``catalog.demo``: opening balances two months back and daily sales since,
posted through the stock services with idempotency keys, so a second run posts nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog import demo as catalog_demo
from catalog.demo import ITEMS, ItemSpec, Tally
from catalog.models import Item, Location, Tracking, Warehouse

from .services import InsufficientStock, movements_for_key, stock_issue, stock_receive

HISTORY_DAYS = 60


def _bins(code: str) -> list[Location]:
    return list(Location.objects.filter(warehouse__code=code, level="bin").select_related("warehouse").order_by("code"))


def _stocked(spec: ItemSpec, code: str) -> bool:
    """Whether the item has an opening balance in warehouse ``code``."""
    return spec.number % 7 != 0 and (code == "AMS" or spec.number % 3 == 0)


def seed_opening_stock() -> Tally:
    """Most items get an opening balance in AMS and every third one in RTM too; one in seven
    has none (so the stock-out reports have something to show)."""
    tally = Tally()
    actor = get_user_model().objects.get(username="manager")
    items = {item.sku: item for item in Item.objects.filter(sku__in=[spec.sku for spec in ITEMS])}
    opened = timezone.now() - timedelta(days=HISTORY_DAYS)
    for code, bins in (("AMS", _bins("AMS")), ("RTM", _bins("RTM"))):
        for spec in ITEMS:
            if not _stocked(spec, code):
                continue
            key = f"demo-opening-{code}-{spec.sku}"
            if movements_for_key(key):
                tally.unchanged += 1
                continue
            item = items[spec.sku]
            quantity = Decimal(20 + spec.number * 37 % 180) if code == "AMS" else Decimal(5 + spec.number % 40)
            stock_receive(
                item=item,
                location=bins[spec.number % len(bins)],
                quantity=quantity,
                unit_cost=spec.standard_cost,
                lot=f"L{spec.number:03d}-{code}" if item.tracking != Tracking.NONE else None,
                actor=actor,
                idempotency_key=key,
                occurred_at=opened,
                reference_type="demo",
                reference_id="opening balance",
            )
            tally.created += 1
    return tally


def seed_sales_history() -> Tally:
    """Sales from AMS over the last ``HISTORY_DAYS`` days, a few items a day (FEFO picks), of
    the items stocked there: an item without stock sells nothing, so stock that arrives later
    (the demo's purchase receipts) cannot make a second run sell what the first could not."""
    tally = Tally()
    # The clerk sells within the back-dating window (STOCK_BACKDATE_DAYS); older history is
    # entered by the manager, who may adjust stock in AMS and so may post further back.
    clerk, manager = (get_user_model().objects.get(username=name) for name in ("clerk", "manager"))
    recent = timezone.now() - timedelta(days=settings.STOCK_BACKDATE_DAYS - 1)
    warehouse = Warehouse.objects.get(code="AMS")
    items = {item.sku: item for item in Item.objects.filter(sku__in=[spec.sku for spec in ITEMS])}
    now = timezone.now()
    for days_ago in range(HISTORY_DAYS - 1, 0, -1):
        for spec in ITEMS:
            if (spec.number * 13 + days_ago) % 23 or not _stocked(spec, "AMS"):
                continue
            key = f"demo-sale-{spec.sku}-{days_ago}"
            if movements_for_key(key):
                tally.unchanged += 1
                continue
            try:
                stock_issue(
                    item=items[spec.sku],
                    warehouse=warehouse,
                    quantity=Decimal(1 + (spec.number + days_ago) % 4),
                    actor=clerk if now - timedelta(days=days_ago) >= recent else manager,
                    idempotency_key=key,
                    occurred_at=now - timedelta(days=days_ago),
                    reference_type="demo",
                    reference_id=f"WEB-{days_ago:02d}{spec.number:03d}",
                )
            except InsufficientStock:
                tally.unchanged += 1  # sold out that day: a real shop has those too
            else:
                tally.created += 1
    return tally


STEPS: list[tuple[str, Callable[[], Tally]]] = [
    *catalog_demo.STEPS,
    ("opening stock", seed_opening_stock),
    ("sales history", seed_sales_history),
]


def seed_demo(stdout: TextIO | None = None) -> dict[str, dict[str, int]]:
    """The whole demo: master data, then opening stock and sales history."""
    return catalog_demo.seed_demo(stdout=stdout, steps=STEPS)

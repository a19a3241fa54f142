"""Whole-stock sums of the ledger, and stock *as of* any moment from the period balances.

Every function is set-based (a few grouped queries, never one per item) and returns plain
dicts keyed by ids:
- quantities per (item, internal location, lot): ``{(item, location, lot): quantity}``;
- values per (item, warehouse): ``{(item, warehouse): [quantity, value]}`` by the ledger's value
  rule (``stock.reconciliation``): a movement's ``total_cost`` counts for a warehouse only when
  it crosses its boundary; moves between bins of one warehouse change no value.

As of T (docs/reports.md, "As of, and period balances"), the base is whichever is nearest to T
in time:
- the current projection (``StockLevel``, ``ItemValuation``, proven equal to the ledger by
  ``reconcile``) minus the movements after T;
- the latest ``PeriodClose`` at or before T: its balances, plus the movements from its end up to
  T, plus the movements back-dated into the closed period after it closed (``id >
  last_movement_id``); or
- the earliest ``PeriodClose`` after T: its balances, minus the movements it holds between T
  and its end, plus those up to T posted after it closed.
Closes are weekly and monthly (``period_ends``), so the movements summed span at most half a
week (plus the back-dated ones): the work follows the movements near T, not the length of
history.

``narrow(queryset, prefix)`` restricts a queryset to the caller's items (``prefix`` names the
item field: ``"item"``); ``warehouse_ids`` to the caller's warehouses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Location, LocationKind

from .models import ZERO, ItemValuation, Movement, PeriodBalance, PeriodClose, StockLevel

Narrow = Callable[[QuerySet, str], QuerySet]
MICROSECOND = timedelta(microseconds=1)
Key = tuple


def _all(queryset: QuerySet, prefix: str) -> QuerySet:
    return queryset


def as_decimal(value: object) -> Decimal:
    """SQLite sums decimals as floats: back to 4 places, as the ledger stores them."""
    if value is None:
        return ZERO
    if isinstance(value, float):
        return Decimal(repr(round(value, 4)))
    return Decimal(value)


def inside(side: str, warehouse_ids: Iterable[int]) -> dict[str, object]:
    """Filter of movements whose ``side`` (``source`` or ``destination``) is an internal location
    of one of ``warehouse_ids``."""
    return {f"{side}__kind": LocationKind.INTERNAL, f"{side}__warehouse_id__in": list(warehouse_ids)}


def reversed_or_own(field: str) -> Coalesce:
    """``field`` of the movement a reversal reverses, else (or when that is empty) its own.

    A subquery by primary key, evaluated only for reversals (``CASE``): a ``LEFT JOIN`` to the
    reversed movement made PostgreSQL hash-join the whole movement table, so a month's report
    took time in proportion to the length of history (bench/reports.py)."""
    reversed_value = Subquery(Movement.objects.filter(pk=OuterRef("reverses_id")).values(field)[:1])
    return Coalesce(Case(When(reverses_id__isnull=False, then=reversed_value)), F(field))


def effective_kind() -> Coalesce:
    """The kind a movement counts as: a reversal counts as (minus) the kind it reverses."""
    return reversed_or_own("kind")


def value_sums(
    movements: QuerySet[Movement],
    warehouse_ids: Iterable[int],
    *,
    by_kind: bool = False,
    by_item: bool = True,
    kinds: Iterable[str] | None = None,
) -> dict:
    """Signed quantity and value of ``movements`` crossing into (+) or out of (-) each warehouse,
    per (item, warehouse[, kind]): ``{key: [quantity, value]}``; without ``by_item`` per
    (warehouse[, kind]), summed in SQL over the items (a few rows, whatever the items). With
    ``kinds``, only the movements that count as one of them (``effective_kind``). Moves within
    one warehouse are left out in SQL (no value crosses), so a row is one key."""
    ids = list(warehouse_ids)
    wanted = list(kinds) if kinds is not None else None
    found: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for side, other, sign in (("destination", "source", 1), ("source", "destination", -1)):
        fields = ["item_id"] if by_item else []
        fields.append(f"{side}__warehouse_id")
        rows = movements.filter(**inside(side, ids)).exclude(**{f"{other}__warehouse_id": F(f"{side}__warehouse_id")})
        counted = None
        if wanted is not None:
            # Plain columns only: a filter on ``effective_kind`` hides the row count from the
            # planner (a nested loop over a month took 2.7 s instead of 0.2 s at 1M movements).
            # A reversal of another kind is read, and not summed: the sums carry a FILTER on the
            # kind rather than a group per kind (turnover's cost of goods sold at 1M: about 5 %
            # less time; the sort of the groups by the computed kind went).
            rows = rows.filter(Q(kind__in=wanted) | Q(reverses_id__isnull=False))
            counted = Q(as_kind__in=wanted)
        if by_kind or wanted is not None:  # an unused annotation would still join
            rows = rows.annotate(as_kind=effective_kind())
        if by_kind:
            fields.append("as_kind")
        sums = rows.values(*fields).annotate(
            quantity=Sum("quantity", filter=counted), value=Sum("total_cost", filter=counted)
        )
        for *key, quantity, value in sums.order_by().values_list(*fields, "quantity", "value"):
            if quantity is None:  # no movement of a wanted kind in the group
                continue
            pair = found[tuple(key)]
            pair[0] += sign * as_decimal(quantity)
            pair[1] += sign * as_decimal(value)
    return found


def quantity_sums(movements: QuerySet[Movement], warehouse_ids: Iterable[int]) -> dict[Key, Decimal]:
    """Signed quantity of ``movements`` into (+) and out of (-) each internal location of the
    warehouses, per (item, location, lot)."""
    ids = list(warehouse_ids)
    found: dict[Key, Decimal] = defaultdict(lambda: ZERO)
    for side, sign in (("destination", 1), ("source", -1)):
        rows = (
            movements.filter(**inside(side, ids))
            .values("item_id", f"{side}_id", "lot_id")
            .annotate(quantity=Sum("quantity"))
            .order_by()
        )
        for row in rows:
            found[(row["item_id"], row[f"{side}_id"], row["lot_id"])] += sign * as_decimal(row["quantity"])
    return found


def both_sums(movements: QuerySet[Movement], warehouse_ids: Iterable[int]) -> tuple[dict, dict]:
    """``(quantity_sums(movements, ids), value_sums(movements, ids))`` in one statement: the
    movements are read once (a common table expression), each counted on its destination (+)
    and its source (-) side when that is an internal location of the warehouses, and grouped
    per (item, location, lot, whether the other side is another warehouse). Groups that sum to
    nothing (a receipt and its issue in the same span) are left out in SQL, so the rows that
    travel are the balances that changed. The quantity per bin sums every group of the bin;
    the value per (item, warehouse) only those that crossed its boundary."""
    ids = list(warehouse_ids)
    found_q: dict[Key, Decimal] = defaultdict(lambda: ZERO)
    found_v: dict[Key, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    if not ids:
        return found_q, found_v
    columns = ("item_id", "lot_id", "source_id", "destination_id", "quantity", "total_cost")
    part, params = movements.order_by().values(*columns).query.sql_with_params()
    location = Location._meta.db_table
    marks = ", ".join(["%s"] * len(ids))
    sides = [
        f"""SELECT m.item_id, m.{side}_id AS location_id, m.lot_id, here.warehouse_id,
                   CASE WHEN there.warehouse_id = here.warehouse_id THEN 0 ELSE 1 END AS crosses,
                   {sign}m.quantity AS quantity, {sign}m.total_cost AS value
              FROM m JOIN {location} here ON here.id = m.{side}_id JOIN {location} there ON there.id = m.{other}_id
             WHERE here.kind = %s AND here.warehouse_id IN ({marks})"""  # noqa: S608 - names from _meta
        for side, other, sign in (("destination", "source", ""), ("source", "destination", "-"))
    ]
    sql = f"""WITH m ({", ".join(columns)}) AS ({part})
        SELECT item_id, location_id, lot_id, warehouse_id, crosses, SUM(quantity), SUM(value)
          FROM ({sides[0]} UNION ALL {sides[1]}) x
         GROUP BY item_id, location_id, lot_id, warehouse_id, crosses
        HAVING SUM(quantity) <> 0 OR SUM(value) <> 0"""  # noqa: S608 - the movements' own query
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *(LocationKind.INTERNAL, *ids) * 2])
        rows = cursor.fetchall()
    for item_id, location_id, lot_id, warehouse_id, crosses, moved, value in rows:
        quantity = as_decimal(moved)
        found_q[(item_id, location_id, lot_id)] += quantity
        if crosses:  # within one warehouse: no value crosses
            pair = found_v[(item_id, warehouse_id)]
            pair[0] += quantity
            pair[1] += as_decimal(value)
    return found_q, found_v


def _add(into: dict, more: dict, sign: int = 1) -> None:
    for key, amount in more.items():
        if isinstance(amount, list):
            into.setdefault(key, [ZERO, ZERO])
            into[key] = [into[key][0] + sign * amount[0], into[key][1] + sign * amount[1]]
        else:
            into[key] = into.get(key, ZERO) + sign * amount


def _current(warehouse_ids: list[int], narrow: Narrow, quantities: bool, values: bool) -> tuple[dict, dict]:
    """The projection's quantities and values (only those asked for)."""
    found_q: dict[Key, Decimal] = {}
    found_v: dict[Key, list[Decimal]] = {}
    if quantities:
        found_q = _current_levels(warehouse_ids, narrow)
    if values:
        rows = narrow(ItemValuation.objects.filter(warehouse_id__in=warehouse_ids), "item").values_list(
            "item_id", "warehouse_id", "quantity", "value"
        )
        found_v = {(item_id, warehouse_id): [quantity, value] for item_id, warehouse_id, quantity, value in rows}
    return found_q, found_v


def _current_levels(warehouse_ids: list[int], narrow: Narrow) -> dict[Key, Decimal]:
    levels = narrow(
        StockLevel.objects.filter(location__kind=LocationKind.INTERNAL, location__warehouse_id__in=warehouse_ids),
        "item",
    )
    rows = levels.exclude(on_hand=0).values_list("item_id", "location_id", "lot_id", "on_hand")
    return {(item_id, location_id, lot_id): on_hand for item_id, location_id, lot_id, on_hand in rows}


def _stored(
    close: PeriodClose, warehouse_ids: list[int], narrow: Narrow, quantities: bool, values: bool
) -> tuple[dict, dict]:
    """The close's balances (only those asked for: a value balance has no location)."""
    rows = narrow(PeriodBalance.objects.filter(close=close, warehouse_id__in=warehouse_ids), "item")
    if not quantities:
        rows = rows.filter(location_id__isnull=True)
    if not values:
        rows = rows.filter(location_id__isnull=False)
    found_q: dict[Key, Decimal] = {}
    found_v: dict[Key, list[Decimal]] = {}
    for item_id, warehouse_id, location_id, lot_id, quantity, value in rows.values_list(
        "item_id", "warehouse_id", "location_id", "lot_id", "quantity", "value"
    ):
        if location_id is None:
            found_v[(item_id, warehouse_id)] = [quantity, value]
        else:
            found_q[(item_id, location_id, lot_id)] = quantity
    return found_q, found_v


def _bases(at: datetime) -> dict[str, PeriodClose | None]:
    """The closes on either side of ``at``: ``before`` (the latest at or before ``at``) and
    ``after`` (the earliest after it). A close at P holds the movements before P: as of
    P - 1 microsecond exactly (a period's opening or the previous period's closing), so it
    serves as ``before`` up to that moment."""
    edge = at + MICROSECOND
    return {
        "before": PeriodClose.objects.filter(period_end__lte=edge).order_by("-period_end").first(),
        "after": PeriodClose.objects.filter(period_end__gt=edge).order_by("period_end").first(),
    }


def _nearest(at: datetime, closes: dict[str, PeriodClose | None]) -> str:
    """The base nearest ``at`` in time (so the fewest movements to sum, whatever the length of
    history): the close before, the close after, or the projection (now)."""
    distances = {"projection": abs(timezone.now() - at)}
    for side, close in closes.items():
        if close is not None:
            distances[side] = abs(at - close.period_end)
    return min(distances, key=lambda side: distances[side])


def balances_as_of(
    at: datetime | None,
    warehouse_ids: Iterable[int],
    narrow: Narrow = _all,
    *,
    quantities: bool = True,
    values: bool = True,
    base: str = "nearer",
) -> tuple[dict[Key, Decimal], dict[Key, list[Decimal]]]:
    """(quantities per (item, location, lot), [quantity, value] per (item, warehouse)) of the
    warehouses now (``at`` None) or as of ``at`` inclusive; zero entries left out.

    The base is the nearest to ``at`` in time (``base="nearer"``) of:
    - ``projection``: the projection minus the movements after ``at``;
    - ``before``: the latest close at P <= ``at``: its balances plus the movements with
      P <= occurred_at <= ``at``, plus those back-dated before P after it closed (id > its
      ``last_movement_id``);
    - ``after``: the earliest close at P > ``at``: its balances minus the movements it holds
      with ``at`` < occurred_at < P (id <= its ``last_movement_id``), plus those with
      occurred_at <= ``at`` posted after it closed (id > ``last_movement_id``).
    All three give the same answer (property-based test); ``base`` forces one for tests and
    benchmarks (a close that does not exist falls back to the projection)."""
    ids = list(warehouse_ids)
    movements = narrow(Movement.objects.all(), "item")
    close = None
    parts: list[tuple[QuerySet, int]] = []
    if at is not None:
        closes = _bases(at)
        side = _nearest(at, closes) if base == "nearer" else base
        close = closes.get(side)
        if close is None:
            parts = [(movements.filter(occurred_at__gt=at), -1)]
        elif side == "before":
            late = Q(id__gt=close.last_movement_id, occurred_at__lt=close.period_end)
            if at >= close.period_end:  # else as of the moment before the close: nothing since
                late |= Q(occurred_at__gte=close.period_end, occurred_at__lte=at)
            parts = [(movements.filter(late), 1)]
        else:
            held = movements.filter(id__lte=close.last_movement_id)
            parts = [
                (held.filter(occurred_at__gt=at, occurred_at__lt=close.period_end), -1),
                (movements.filter(id__gt=close.last_movement_id, occurred_at__lte=at), 1),
            ]
    if close is None:
        found_q, found_v = _current(ids, narrow, quantities, values)
    else:
        found_q, found_v = _stored(close, ids, narrow, quantities, values)
    for part, sign in parts:
        if quantities and values:
            more_q, more_v = both_sums(part, ids)
            _add(found_q, more_q, sign)
            _add(found_v, more_v, sign)
        elif quantities:
            _add(found_q, quantity_sums(part, ids), sign)
        elif values:
            _add(found_v, value_sums(part, ids), sign)
    return (
        {k: q for k, q in found_q.items() if q} if quantities else {},
        {k: pair for k, pair in found_v.items() if pair[0] or pair[1]} if values else {},
    )


def period_ends(first: datetime, last: datetime) -> list[datetime]:
    """The period boundaries after ``first`` up to ``last`` (inclusive), aware: local midnight
    of every month's first day and of every Monday. Months keep the period reports' defaults
    on a close; weeks bound what an as-of sums to half a week of movements either side
    (docs/reports.md, "As of, and period balances")."""
    tz = timezone.get_current_timezone()
    day = timezone.localtime(first, tz).date()
    found = []
    while True:
        day += timedelta(days=1)
        if day.day != 1 and day.weekday() != 0:
            continue
        moment = timezone.make_aware(datetime(day.year, day.month, day.day), tz)
        if moment > last:
            return found
        found.append(moment)

"""The formulas of a computed reorder policy (docs/replenishment.md), each with its explanation.

Pure ``Decimal`` arithmetic, no database: ``purchasing.replenishment.reorder_policy_compute``
gathers the inputs and stores what ``policy_figures`` returns.

- safety stock SS = z x sqrt(LT x sd_d^2 + d^2 x sd_LT^2), z the standard normal quantile of
  the service level (rounded to 4 places), d and sd_d the forecast daily demand and its
  standard deviation, LT and sd_LT the lead time in days and its standard deviation;
- reorder point ROP = d x LT + SS;
- order quantity Q = EOQ = sqrt(2 D S / H): D = d x 365 a year, S the supplier's cost of one
  order, H the yearly cost of holding one unit (the category's holding percentage of the unit
  cost); then at least the offer's minimum, rounded up to its multiple;
- order-up-to level = ROP + Q.

Every quantity is rounded *up* to the item's unit (4 decimal places at most): a fraction of a
box short is a stock-out, a fraction over costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from statistics import NormalDist

from common.numbers import plain

DAYS_A_YEAR = Decimal(365)
Z_PLACES = Decimal("0.0001")


def z_value(service_level: Decimal) -> Decimal:
    """The standard normal quantile of ``service_level`` (0.5 <= level < 1), 4 places:
    0.95 -> 1.6449, 0.99 -> 2.3263, 0.5 -> 0."""
    if not Decimal("0.5") <= service_level < 1:
        raise ValueError(f"A service level is between 0.5 and 1 (got {service_level}).")
    z = NormalDist().inv_cdf(float(service_level))
    return Decimal(repr(z)).quantize(Z_PLACES, rounding=ROUND_HALF_UP)


def round_up(value: Decimal, places: int) -> Decimal:
    """``value`` rounded up to ``places`` decimals (0: whole units)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING)


def to_offer(quantity: Decimal, minimum: Decimal, multiple: Decimal | None) -> Decimal:
    """At least ``minimum``, then up to the next ``multiple`` (None: any quantity)."""
    quantity = max(quantity, minimum)
    if multiple:
        quantity = (quantity / multiple).to_integral_value(rounding=ROUND_CEILING) * multiple
    return quantity


@dataclass(frozen=True)
class Inputs:
    """What a computed policy is made of; money per base unit, times in days."""

    daily_demand: Decimal  # d
    daily_sd: Decimal  # sd_d
    lead_time: Decimal  # LT
    lead_time_sd: Decimal  # sd_LT
    service_level: Decimal
    ordering_cost: Decimal  # S, per order
    unit_cost: Decimal
    holding_percent: Decimal  # of the unit cost, a year
    minimum: Decimal = Decimal(0)
    multiple: Decimal | None = None
    places: int = 0  # the item's unit's decimal places
    unit: str = ""
    forecast_method: str = ""
    lead_time_source: str = ""


@dataclass(frozen=True)
class Figures:
    safety_stock: Decimal
    reorder_point: Decimal
    order_quantity: Decimal
    order_up_to: Decimal
    z: Decimal
    eoq: Decimal | None  # None when it is undefined (no demand or nothing to hold)
    explanation: dict[str, str]


def _q(value: Decimal, places: int = 2) -> str:
    """A figure for people: at most ``places`` decimals, no trailing zeros."""
    return plain(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def policy_figures(i: Inputs) -> Figures:
    """Safety stock, reorder point, order quantity and order-up-to level of ``i``, and one
    sentence per figure saying how it was reached (the module docstring's formulas)."""
    z = z_value(i.service_level)
    d, lt = i.daily_demand, i.lead_time
    variance = lt * i.daily_sd**2 + d**2 * i.lead_time_sd**2
    raw_safety = z * variance.sqrt()
    safety = round_up(raw_safety, i.places)
    lead_demand = d * lt
    point = round_up(lead_demand + safety, i.places)
    annual = d * DAYS_A_YEAR
    holding = i.unit_cost * i.holding_percent / 100
    eoq = (2 * annual * i.ordering_cost / holding).sqrt() if annual > 0 and holding > 0 else None
    smallest = Decimal(1).scaleb(-i.places)
    quantity = to_offer(max(round_up(eoq or Decimal(0), i.places), smallest), i.minimum, i.multiple)
    unit = f" {i.unit}" if i.unit else ""
    offer = f"at least the supplier's minimum {_q(i.minimum, 4)}" + (
        f", in multiples of {_q(i.multiple, 4)}" if i.multiple else ""
    )
    explanation = {
        "forecast_daily_demand": f"{_q(d)}{unit} a day: {i.forecast_method}.".replace(": .", "."),
        "lead_time": f"{_q(lt)} days, spread {_q(i.lead_time_sd)} days: {i.lead_time_source}.".replace(": .", "."),
        "service_level": f"{_q(i.service_level * 100)} % of cycles without a stock-out: z = {_q(z, 4)}.",
        "safety_stock": (
            f"{_q(safety, 4)} = z {_q(z, 4)} x sqrt(LT {_q(lt)} x sd_d {_q(i.daily_sd)}^2 + d {_q(d)}^2 x "
            f"sd_LT {_q(i.lead_time_sd)}^2) = {_q(raw_safety)}, rounded up to the unit."
        ),
        "reorder_point": (
            f"{_q(point, 4)} = demand over the lead time {_q(lead_demand)} ({_q(d)} a day x {_q(lt)} days) "
            f"+ safety stock {_q(safety, 4)}, rounded up to the unit."
        ),
        "order_quantity": (
            f"{_q(quantity, 4)} = EOQ sqrt(2 x D {_q(annual)} a year x S {_q(i.ordering_cost)} per order / H "
            f"{_q(holding, 4)} a unit a year ({_q(i.holding_percent)} % of {_q(i.unit_cost, 4)})) = {_q(eoq)}, "
            f"rounded up to the unit, {offer}."
            if eoq is not None
            else f"{_q(quantity, 4)}: no EOQ without demand and a holding cost, so the smallest order ({offer})."
        ),
        "order_up_to": f"{_q(point + quantity, 4)} = reorder point {_q(point, 4)} + order quantity {_q(quantity, 4)}.",
    }
    return Figures(safety, point, quantity, point + quantity, z, eoq, explanation)

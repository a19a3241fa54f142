"""The formulas of computed reorder policies (purchasing.policies), on textbook cases worked out
by hand: z of a service level, safety stock with and without lead-time spread, reorder point,
EOQ rounded to the offer, and the order-up-to level; each figure explained."""

from __future__ import annotations

from decimal import Decimal

import pytest

from purchasing.policies import Inputs, policy_figures, to_offer, z_value

D = Decimal


def _inputs(**changes) -> Inputs:
    base = {
        "daily_demand": D(20),
        "daily_sd": D(5),
        "lead_time": D(9),
        "lead_time_sd": D(2),
        "service_level": D("0.95"),
        "ordering_cost": D(50),
        "unit_cost": D(4),
        "holding_percent": D(25),
        "unit": "each",
    }
    return Inputs(**{**base, **changes})


def test_z_of_common_service_levels():
    assert z_value(D("0.95")) == D("1.6449")  # the normal table: 1.64485 -> 4 places
    assert z_value(D("0.99")) == D("2.3263")  # 2.32635
    assert z_value(D("0.5")) == D("0.0000")  # the median: no safety stock
    for refused in (D("0.4"), D(1), D("1.5")):
        with pytest.raises(ValueError, match="between 0.5 and 1"):
            z_value(refused)


def test_safety_stock_reorder_point_eoq_and_order_up_to_with_lead_time_spread():
    figures = policy_figures(_inputs(multiple=D(12)))
    # variance = LT x sd_d^2 + d^2 x sd_LT^2 = 9 x 25 + 400 x 4 = 225 + 1600 = 1825; sqrt = 42.7200
    # SS = 1.6449 x 42.7200 = 70.27 -> 71 whole units (rounded up)
    assert figures.safety_stock == 71
    # ROP = d x LT + SS = 20 x 9 + 71 = 180 + 71 = 251
    assert figures.reorder_point == 251
    # D = 20 x 365 = 7300 a year; H = 25 % of 4 = 1 a year; EOQ = sqrt(2 x 7300 x 50 / 1) = sqrt(730000) = 854.40
    assert round(figures.eoq, 2) == D("854.40")
    # 854.40 -> 855 whole units -> next multiple of 12: 855 / 12 = 71.25 -> 72 x 12 = 864
    assert figures.order_quantity == 864
    assert figures.order_up_to == 251 + 864  # 1115
    why = figures.explanation
    assert why["reorder_point"].startswith("251 = demand over the lead time 180 (20 a day x 9 days) + safety stock 71")
    assert "sqrt(LT 9 x sd_d 5^2 + d 20^2 x sd_LT 2^2) = 70.27" in why["safety_stock"]
    assert "= 854.4" in why["order_quantity"] and "multiples of 12" in why["order_quantity"]
    assert why["service_level"] == "95 % of cycles without a stock-out: z = 1.6449."


def test_without_lead_time_spread_only_demand_varies():
    figures = policy_figures(
        _inputs(daily_demand=D(10), daily_sd=D(3), lead_time=D(4), lead_time_sd=D(0), service_level=D("0.99"))
    )
    # SS = 2.3263 x sqrt(4 x 3^2) = 2.3263 x 6 = 13.9578 -> 14; ROP = 10 x 4 + 14 = 54
    assert (figures.safety_stock, figures.reorder_point) == (14, 54)


def test_the_suppliers_minimum_wins_over_a_smaller_eoq():
    figures = policy_figures(_inputs(minimum=D(1000)))
    assert figures.order_quantity == 1000  # EOQ 855 is below the minimum 1000
    assert "at least the supplier's minimum 1000" in figures.explanation["order_quantity"]


def test_a_unit_with_decimals_rounds_up_to_its_places():
    figures = policy_figures(_inputs(places=1))
    # SS 70.27 -> 70.3 (kg to 100 g); ROP = 180 + 70.3 = 250.3; EOQ sqrt(730000) = 854.4003 -> 854.5 (up)
    assert (figures.safety_stock, figures.reorder_point, figures.order_quantity) == (D("70.3"), D("250.3"), D("854.5"))


def test_no_demand_means_no_eoq_and_the_smallest_order():
    figures = policy_figures(_inputs(daily_demand=D(0), daily_sd=D(0), multiple=D(6)))
    assert figures.eoq is None
    assert (figures.safety_stock, figures.reorder_point) == (0, 0)
    assert figures.order_quantity == 6  # one unit, rounded up to the multiple of 6
    assert figures.order_up_to == 6  # above the reorder point 0, as the policy's constraint wants
    assert "no EOQ without demand" in figures.explanation["order_quantity"]


def test_to_offer():
    assert to_offer(D(5), D(10), None) == 10
    assert to_offer(D(13), D(10), D(6)) == 18  # 13 / 6 = 2.17 -> 3 x 6
    assert to_offer(D(12), D(0), D(6)) == 12  # already a multiple

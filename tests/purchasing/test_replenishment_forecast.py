"""Forecasts (purchasing.forecasting) on synthetic series: a weekly season is recovered and
beats the naive forecast; stock-out days do not drag the level down; intermittent demand and
short histories fall back as documented."""

from __future__ import annotations

import numpy as np

from purchasing import forecasting

PROFILE = [5, 8, 10, 12, 15, 30, 20]  # demand by weekday; a week sells 100


def _seasonal(weeks: int, seed: int = 7) -> list[float]:
    rng = np.random.default_rng(seed)
    return [PROFILE[day % 7] + rng.normal(0, 1) for day in range(weeks * 7)]


def test_the_weekly_season_is_recovered_within_two_units_and_beats_the_naive_forecast():
    series = _seasonal(20)  # 140 days, noise sd 1
    history, actual = series[:-7], np.array(series[-7:])
    fit = forecasting.fit(history)
    assert "weekly season" in fit.method
    ahead = np.array(fit.forecast[:7])
    # The next 7 days are weekdays 0..6 again (133 = 19 x 7): each within 2 units (2 noise sd) of its profile
    assert np.all(np.abs(ahead - np.array(PROFILE)) < 2), ahead
    naive = np.full(7, history[-1])  # the last day (weekday 6, about 20) repeated
    # naive errs by about |20 - profile| = 15+12+10+8+5+10+0 = 60 over 7 days = 8.6 a day
    assert np.abs(ahead - actual).mean() < np.abs(naive - actual).mean() / 4
    assert fit.mase is not None and fit.mase < 1  # the held-out error, stored, says the same
    assert abs(fit.mean(7) - 100 / 7) < 1  # 100 a week = 14.3 a day


def test_stock_out_days_are_replaced_not_counted_as_zero_demand():
    demand = [10.0] * 70
    stockout = [False] * 70
    for day in range(50, 60):  # ten days with nothing on the shelf: no sales, flagged
        demand[day], stockout[day] = 0.0, True
    flagged = forecasting.fit(demand, stockout)
    assert abs(flagged.mean() - 10) < 0.5
    unflagged = forecasting.fit(demand)
    assert unflagged.mean() < flagged.mean()  # without the flags the gap pulls the level down
    never_in_stock = forecasting.fit([2.0] * 10, [True] * 10)
    assert never_in_stock.mean() == 2  # what was sold is a floor, but better than nothing


def test_intermittent_demand_uses_croston_or_the_moving_average():
    demand = [4.0 if day % 5 == 0 else 0.0 for day in range(100)]  # 4 every fifth day: 0.8 a day
    fit = forecasting.fit(demand)
    assert fit.method in ("Croston (intermittent demand)", "moving average (28 days)")
    # Croston: size 4 / interval 5 = 0.8; moving average of the last 28 days (days 72..99: 75, 80, .., 95
    # sell) = 5 x 4 / 28 = 0.714
    assert 0.71 <= fit.mean() <= 0.81


def test_a_short_history_gets_a_moving_average_and_no_error_figure():
    fit = forecasting.fit([3.0] * 10)
    assert fit.method == "moving average (short history)"
    assert fit.forecast[:3] == [3.0, 3.0, 3.0] and fit.mase is None and fit.history_days == 10
    empty = forecasting.fit([])
    assert empty.mean() == 0 and empty.sd == 0

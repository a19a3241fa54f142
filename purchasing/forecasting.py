"""Daily demand forecasts of one item in one warehouse (docs/replenishment.md, "Forecast").

Pure functions over a list of daily quantities (oldest first, ending yesterday) and the flags of
the days the item was out of stock: no database, so the tests and the bench feed them directly.

How a method is chosen, every time it is fitted:

1. Stock-out days say how much was *left*, not how much was wanted: each is replaced by the mean
   of the in-stock days on the same weekday (else of all in-stock days; a series never in stock
   is kept as it is).
2. Fewer than ``2 * HOLDOUT`` days: a moving average of what there is (nothing to test against).
3. Intermittent demand (the average interval between demand days, ADI, above 1.32: the
   Syntetos-Boylan cut-off): Croston's method or the moving average.
   Otherwise: the moving average and Holt-Winters exponential smoothing (statsmodels) without
   trend or season, with an additive trend, with an additive weekly season, with both, and, with
   two years of history, with a yearly season fitted on weekly totals.
4. Each candidate is fitted on all but the last ``HOLDOUT`` days and forecasts them; the one with
   the smallest mean absolute error wins and is refitted on the whole history. ``mase`` is its
   error over the error of the naive forecast (the last day repeated) on the same days: below
   1 beats it.

Forecasts are floats (statistics, not ledger figures); ``purchasing.replenishment`` turns them
into ``Decimal`` quantities, rounded to the item's unit, before anything is stored.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

HOLDOUT = 28  # days held out to choose the method and measure its error
HORIZON = 91  # days forecast (13 weeks: the chart and long lead times)
WINDOW = 28  # the moving average's window
RECENT = 364  # days the weekly Holt-Winters models are fitted on
WEEK = 7
YEAR_WEEKS = 52
INTERMITTENT_ADI = 1.32


@dataclass(frozen=True)
class Fit:
    """The chosen method, the next ``HORIZON`` days' demand (>= 0), the standard deviation of
    daily demand around the fit (``sd``), the held-out MASE (None when the history was too short
    to hold any out, or the naive forecast was exact) and the number of days of history."""

    method: str
    forecast: list[float]
    sd: float
    mase: float | None
    history_days: int

    def mean(self, days: int = WINDOW) -> float:
        """Mean forecast demand per day over the next ``days`` days (at least one)."""
        ahead = self.forecast[: max(1, min(days, len(self.forecast)))]
        return sum(ahead) / len(ahead)


Forecaster = Callable[[np.ndarray, int], tuple[np.ndarray, float]]


def cleaned(demand: Sequence[float], stockout: Sequence[bool]) -> np.ndarray:
    """``demand`` with each stock-out day replaced by the mean in-stock demand of its weekday
    (position modulo 7), else of all in-stock days; unchanged when no day was in stock."""
    y = np.asarray(demand, dtype=float)
    out = np.asarray(stockout, dtype=bool) if len(stockout) else np.zeros(len(y), dtype=bool)
    if not out.any():
        return y
    in_stock = ~out
    if not in_stock.any():  # never in stock: the sales seen are a floor, but all there is
        return y
    y = y.copy()
    overall = float(y[in_stock].mean())
    weekday = np.arange(len(y)) % WEEK
    for day in range(WEEK):
        same = (weekday == day) & in_stock
        y[(weekday == day) & out] = float(y[same].mean()) if same.any() else overall
    return y


def moving_average(y: np.ndarray, h: int) -> tuple[np.ndarray, float]:
    window = y[-WINDOW:]
    return np.full(h, window.mean()), float(window.std(ddof=1)) if len(window) > 1 else 0.0


def croston(y: np.ndarray, h: int, alpha: float = 0.1) -> tuple[np.ndarray, float]:
    """Croston's method: smooth the size of the non-zero demands and the interval between them
    separately; the forecast per day is size / interval (flat)."""
    demands = np.flatnonzero(y)
    if len(demands) == 0:
        return np.zeros(h), 0.0
    size, interval, last = float(y[demands[0]]), float(demands[0] + 1), demands[0]
    for index in demands[1:]:
        size += alpha * (y[index] - size)
        interval += alpha * ((index - last) - interval)
        last = index
    return np.full(h, size / interval), float(y.std(ddof=1)) if len(y) > 1 else 0.0


def holt_winters(trend: str | None, seasonal: str | None) -> Forecaster:
    def fit(y: np.ndarray, h: int) -> tuple[np.ndarray, float]:
        from statsmodels.tsa.holtwinters import (  # type: ignore[import-untyped]  # heavy: loaded when first fitted
            ExponentialSmoothing,
        )

        model = ExponentialSmoothing(
            y[-RECENT:],  # the last year says all a weekly model can use, and fits much faster
            trend=trend,
            seasonal=seasonal,
            seasonal_periods=WEEK if seasonal else None,
            initialization_method="heuristic",  # start values from the data, not optimised: 3x faster
        )
        result = model.fit(use_brute=False)  # no brute-force grid for the start of the search
        return np.asarray(result.forecast(h)), float(np.std(result.resid, ddof=1))

    return fit


def yearly(y: np.ndarray, h: int) -> tuple[np.ndarray, float]:
    """Holt-Winters with a 52-week season on weekly totals, spread over the days by the last
    eight weeks' weekday shares."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    weeks = len(y) // WEEK
    tail = y[len(y) - weeks * WEEK :]
    totals = tail.reshape(weeks, WEEK).sum(axis=1)
    result = ExponentialSmoothing(
        totals, trend=None, seasonal="add", seasonal_periods=YEAR_WEEKS, initialization_method="heuristic"
    ).fit(use_brute=False)
    ahead = np.asarray(result.forecast(math.ceil(h / WEEK) + 1))
    recent = tail[-8 * WEEK :].reshape(-1, WEEK).sum(axis=0)
    shares = recent / recent.sum() if recent.sum() > 0 else np.full(WEEK, 1 / WEEK)
    daily = np.concatenate([week * shares for week in ahead])[:h]
    return daily, float(np.std(result.resid, ddof=1)) / math.sqrt(WEEK)


def candidates(y: np.ndarray) -> dict[str, Forecaster]:
    """The methods worth trying on ``y`` (see the module's docstring, step 3)."""
    nonzero = np.count_nonzero(y)
    if nonzero == 0 or len(y) / nonzero > INTERMITTENT_ADI:
        return {"Croston (intermittent demand)": croston, f"moving average ({WINDOW} days)": moving_average}
    methods: dict[str, Forecaster] = {
        f"moving average ({WINDOW} days)": moving_average,
        "exponential smoothing": holt_winters(None, None),
        "Holt (additive trend)": holt_winters("add", None),
        "Holt-Winters (weekly season)": holt_winters(None, "add"),
        "Holt-Winters (additive trend, weekly season)": holt_winters("add", "add"),
    }
    if len(y) - HOLDOUT >= 2 * YEAR_WEEKS * WEEK:
        methods["Holt-Winters (yearly season, weekly totals)"] = yearly
    return methods


def _mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.abs(forecast - actual).mean())


def _safe(method: Forecaster, y: np.ndarray, h: int) -> tuple[np.ndarray, float] | None:
    """The method's forecast, or None when it cannot fit this series (statsmodels refuses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of the optimiser: the holdout judges
        try:
            forecast, sd = method(y, h)
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return None
    if not np.all(np.isfinite(forecast)) or not math.isfinite(sd):
        return None
    return np.clip(forecast, 0, None), sd


def fit(demand: Sequence[float], stockout: Sequence[bool] = ()) -> Fit:
    """Choose, fit and forecast (module docstring). ``demand`` is oldest first, one value a day."""
    y = cleaned(demand, stockout)
    if len(y) < 2 * HOLDOUT:
        forecast, sd = moving_average(y, HORIZON) if len(y) else (np.zeros(HORIZON), 0.0)
        return Fit("moving average (short history)", [float(v) for v in forecast], sd, None, len(y))
    train, test = y[:-HOLDOUT], y[-HOLDOUT:]
    naive = _mae(np.full(HOLDOUT, train[-1]), test)
    best: tuple[float, str, Forecaster] | None = None
    for name, method in candidates(y).items():
        tried = _safe(method, train, HOLDOUT)
        if tried is not None and (best is None or _mae(tried[0], test) < best[0]):
            best = (_mae(tried[0], test), name, method)
    assert best is not None  # the moving average always fits
    error, name, method = best
    final = _safe(method, y, HORIZON)
    if final is None:  # fitted on the shorter series but not on the whole: the plain fallback
        name, final = f"moving average ({WINDOW} days)", moving_average(y, HORIZON)
    mase = error / naive if naive > 0 else None
    return Fit(name, [float(v) for v in final[0]], final[1], mase, len(y))

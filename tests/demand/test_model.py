"""The demand model alone: tiny real training, leak-free features, forecasts and history checks."""
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlapi.config import Config
from mlapi.demand import model
from tests.conftest import SAMPLE

DATA = Path(Config.DATA_DIR) / "demand"


@pytest.fixture(scope="module")
def trained():
    return model.train(DATA, sample=SAMPLE)


@pytest.fixture(scope="module")
def panel():
    wide = model.read_data(DATA)
    return wide.to_numpy(dtype=float).T, wide.index.to_numpy().astype("datetime64[D]")


def weekly(start: dt.date, sales) -> list[dict]:
    return [{"date": start + dt.timedelta(weeks=week), "sales": float(value)} for week, value in enumerate(sales)]


def history_of(series: model.Series) -> list[dict]:
    return weekly(dt.date.fromisoformat(str(series.dates[0])), series.sales)


def test_training_calls_each_step_in_order():
    seen = []
    model.train(DATA, sample=SAMPLE, step=seen.append)
    assert seen == ["read data", "fit", "evaluate"]


def test_training_reports_a_backtest_per_origin(trained):
    backtest = trained.metrics["backtest"]
    assert list(backtest) == list(model.BACKTEST_ORIGINS)
    for result in backtest.values():
        assert 0 < result["weeks"] <= model.BACKTEST_WEEKS
        assert result["mase"] > 0 and result["mase_seasonal_naive"] > 0
        assert 0 <= result["coverage_80"] <= 1
    assert trained.dataset["rows"] == 7 * 143


def test_features_ignore_everything_after_the_origin(panel):
    sales, dates = panel[0][0], panel[1]
    origin, ahead = 80, np.arange(1, model.MAX_HORIZON + 1)
    origins = np.full(len(ahead), origin)
    before = model.design(sales, dates, origins, ahead)
    changed = sales.copy()
    changed[origin + 1 :] = np.random.default_rng(0).uniform(0, 1e6, len(sales) - origin - 1)
    after = model.design(changed, dates, origins, ahead)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
    changed[origin] += 1000.0  # the origin itself does count
    assert not np.array_equal(model.design(changed, dates, origins, ahead).x, before.x)


def test_training_rows_ignore_everything_after_the_end(panel):
    sales, dates = panel
    end = 100
    x, target = model.training_rows(sales, dates, end)
    changed = sales.copy()
    changed[:, end + 1 :] *= 3.0
    x_changed, target_changed = model.training_rows(changed, dates, end)
    np.testing.assert_array_equal(np.nan_to_num(x, nan=-1), np.nan_to_num(x_changed, nan=-1))
    np.testing.assert_array_equal(target, target_changed)


def test_holiday_weeks_match_the_data_and_carry_on():
    frame = pd.read_csv(DATA / model.DATA_FILE, usecols=["Date", "IsHoliday"]).drop_duplicates()
    days = frame.Date.to_numpy().astype("datetime64[D]")
    np.testing.assert_array_equal(model.holiday_weeks(days), frame.IsHoliday.to_numpy())
    later = np.array(["2013-11-29", "2013-12-27", "2022-02-18", "2022-02-11", "2024-09-06"], dtype="datetime64[D]")
    np.testing.assert_array_equal(model.holiday_weeks(later), [True, True, True, False, True])


def test_forecasts_continue_the_history_within_their_bounds(trained):
    known = {item["id"]: item for item in model.series_list(trained.model)}
    assert len(known) == 7 and known["1_1"]["name"] == "Dept 1" and known["1_1"]["last_date"] == "2012-10-26"
    items = [{"series": key, "horizon": horizon} for key in known for horizon in (1, 8, model.MAX_HORIZON)]
    for item, result in zip(items, model.predict(trained.model, items), strict=True):
        forecast = result["forecast"]
        assert len(forecast) == item["horizon"] and result["interval"] == 0.8
        last = dt.date.fromisoformat(known[item["series"]]["last_date"])
        assert [row["date"] for row in forecast] == [
            (last + dt.timedelta(weeks=week)).isoformat() for week in range(1, item["horizon"] + 1)
        ]
        for row in forecast:
            assert row["lower"] <= row["sales"] <= row["upper"]
            assert row["lower"] < row["upper"]


def test_a_client_history_is_forecast_like_the_known_series(trained):
    series = trained.model.series["1_95"]
    (client,) = model.predict(trained.model, [{"history": history_of(series), "horizon": 8}])
    (known,) = model.predict(trained.model, [{"series": "1_95", "horizon": 8}])
    assert client == known
    recent = series.sales[-model.SEASON :].mean()
    assert all(0.5 * recent < row["sales"] < 2 * recent for row in client["forecast"])


def test_forecasts_scale_with_the_history(trained):
    series = trained.model.series["1_1"]
    small = [{"date": row["date"], "sales": row["sales"] / 1000} for row in history_of(series)]
    (result,) = model.predict(trained.model, [{"history": small, "horizon": 6}])
    (reference,) = model.predict(trained.model, [{"series": "1_1", "horizon": 6}])
    for row, expected in zip(result["forecast"], reference["forecast"], strict=True):
        for key in ("sales", "lower", "upper"):
            assert row[key] == pytest.approx(expected[key] / 1000, abs=0.01)


def test_a_history_on_another_weekday_is_forecast_on_that_weekday(trained):
    history = weekly(dt.date(2021, 3, 1), trained.model.series["1_38"].sales)  # Mondays
    (result,) = model.predict(trained.model, [{"history": history, "horizon": 4}])
    last = history[-1]["date"]
    assert [row["date"] for row in result["forecast"]] == [
        (last + dt.timedelta(weeks=week)).isoformat() for week in range(1, 5)
    ]
    level = trained.model.series["1_38"].sales[-model.SEASON :].mean()
    assert all(0.5 * level < row["sales"] < 2 * level for row in result["forecast"])


def test_a_history_may_come_in_any_order(trained):
    history = history_of(trained.model.series["1_8"])
    shuffled = [history[i] for i in np.random.default_rng(1).permutation(len(history))]
    assert model.check_history(shuffled) is None
    assert model.predict(trained.model, [{"history": shuffled, "horizon": 3}]) == model.predict(
        trained.model, [{"history": history, "horizon": 3}]
    )


def test_check_history_accepts_a_clean_history_and_names_each_problem():
    start, sales = dt.date(2020, 1, 3), np.linspace(100, 200, model.MIN_HISTORY)
    good = weekly(start, sales)
    assert model.check_history(good) is None
    assert "at least 65 weeks" in model.check_history(good[1:])
    duplicated = good + [{"date": good[10]["date"], "sales": 5.0}]
    assert model.check_history(duplicated) == f"Duplicate date {good[10]['date'].isoformat()}."
    gap = good[:30] + weekly(good[30]["date"] + dt.timedelta(weeks=1), sales[30:])
    assert "one week apart" in model.check_history(gap)
    daily = [{"date": start + dt.timedelta(days=day), "sales": 1.0} for day in range(model.MIN_HISTORY)]
    assert "one week apart" in model.check_history(daily)
    assert "positive" in model.check_history(weekly(start, np.zeros(model.MIN_HISTORY)))
    assert "finite" in model.check_history(weekly(start, [*sales[:-1], float("nan")]))

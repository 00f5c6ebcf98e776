"""POST /api/v1/demand, GET /api/v1/demand/series and the /demand page, on the same inputs."""
import html
import json
import math
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlapi.config import Config
from mlapi.demand.model import MIN_HISTORY, SEASON

DATA = pd.read_csv(Path(Config.DATA_DIR) / "demand" / "walmart_sales_weekly.csv")
DEPT_1 = DATA[DATA.id == "1_1"]
HISTORY = [{"date": d, "sales": float(v)} for d, v in zip(DEPT_1.Date, DEPT_1.Weekly_Sales, strict=True)]


def demand(client, body):
    return client.post("/api/v1/demand", json=body)


def test_known_series_forecast_continues_weekly(client):
    body = demand(client, {"series": "1_1", "horizon": 5}).get_json()
    assert body["model"] == {"name": "demand", "version": "v1"} and body["interval"] == 0.8
    dates = [date.fromisoformat(week["date"]) for week in body["forecast"]]
    assert dates[0] == date(2012, 10, 26) + timedelta(weeks=1)
    assert all(later - earlier == timedelta(weeks=1) for earlier, later in zip(dates, dates[1:], strict=False))
    assert all(week["lower"] <= week["sales"] <= week["upper"] for week in body["forecast"])


def test_horizon_defaults_to_eight(client):
    assert len(demand(client, {"series": "1_1"}).get_json()["forecast"]) == 8


def test_own_history_equal_to_a_series_gives_its_forecast(client):
    own = demand(client, {"history": HISTORY, "horizon": 4}).get_json()["forecast"]
    known = demand(client, {"series": "1_1", "horizon": 4}).get_json()["forecast"]
    assert own == known


def test_series_list(client):
    series = client.get("/api/v1/demand/series").get_json()["series"]
    assert len(series) == 7 and {"id", "name", "last_date"} == set(series[0])
    assert all(entry["last_date"] == "2012-10-26" for entry in series)


def shifted(weeks: list[dict], index: int, **change) -> list[dict]:
    return [dict(week, **change) if i == index else week for i, week in enumerate(weeks)]


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"history": HISTORY[:20]}, "history", "at least 65 weeks"),
        ({"history": HISTORY[:40] + HISTORY[41:]}, "history", "one week apart"),
        ({"history": shifted(HISTORY, 5, date=HISTORY[4]["date"])}, "history", "Duplicate date"),
        ({"history": shifted(HISTORY, 3, sales="lots")}, "history", "Not a valid number"),
        ({"history": shifted(HISTORY, 3, date="2012-02-30")}, "history", "Not a valid date"),
        ({"series": "9_99"}, "series", "known: 1_1"),
        ({"series": "1_1", "horizon": 0}, "horizon", ""),
        ({"series": "1_1", "horizon": 53}, "horizon", ""),
        ({"series": "1_1", "horizon": True}, "horizon", "Not a valid integer"),
        ({"history": shifted(HISTORY, 3, sales=True)}, "history", "Not a valid number"),
        ({"history": shifted(HISTORY, 3, sales={"value": 1})}, "history", "Not a valid number"),
        ({"series": "1_1", "history": HISTORY}, "_schema", "not both"),
        ({"horizon": 8}, "_schema", "neither"),
    ],
)
def test_bad_requests_are_422_saying_what_is_needed(client, body, field, words):
    response = demand(client, body)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert field in errors and words in json.dumps(errors)


def weekly(first: date, sales: float | str = 100.0) -> list[dict]:
    """The shortest history the model takes, from ``first`` on."""
    return [{"date": str(first + timedelta(weeks=i)), "sales": sales} for i in range(MIN_HISTORY)]


@pytest.mark.parametrize("first, wrong", [
    (date(1, 1, 3), "0"), (date(1899, 12, 29), "0"), (date(9998, 1, 2), "0"), (date(2100, 1, 1), str(SEASON + 1)),
])
def test_dates_outside_1900_to_2100_are_a_422_naming_the_range(client, first, wrong):
    response = demand(client, {"history": weekly(first), "horizon": 52})
    assert response.status_code == 422
    errors = response.get_json()["errors"]["history"]
    assert errors[wrong] == {"date": ["Must be a date from 1900-01-01 to 2100-12-31."]}


@pytest.mark.parametrize("first", [date(1900, 1, 1), date(2100, 12, 31) - timedelta(weeks=MIN_HISTORY - 1)])
def test_histories_at_either_end_of_the_dates_are_forecast(client, first):
    assert len(demand(client, {"history": weekly(first), "horizon": 52}).get_json()["forecast"]) == 52


@pytest.mark.parametrize("sales", ["1e308", "-1e308", "1.01e15", "1" + "0" * 400, "NaN", "Infinity", "-Infinity"])
def test_sales_beyond_the_largest_are_a_422_naming_the_range(client, sales):
    body = json.dumps({"history": weekly(date(2010, 1, 1), sales="SALES")}).replace('"SALES"', sales)
    response = client.post("/api/v1/demand", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["errors"]["history"]["0"] == {"sales": ["Must be a number from -1e+15 to 1e+15."]}


def test_the_largest_sales_are_forecast(client):
    history = weekly(date(2010, 1, 1), sales=1e15)
    history[-1]["sales"] = -1e15
    forecast = demand(client, {"history": history, "horizon": 52}).get_json()["forecast"]
    assert all(math.isfinite(week[key]) for week in forecast for key in ("sales", "lower", "upper"))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy says where it overflows
def test_a_forecast_that_is_not_finite_is_a_422_not_null(client):
    history = weekly(date(2010, 1, 1), sales=1e15)
    for week in history[-SEASON:]:
        week["sales"] = 1e-300  # sales / level overflows
    response = demand(client, {"history": history})
    assert response.status_code == 422
    assert "not a finite number" in response.get_json()["errors"]["history"][0]


def shown_json(page: str) -> dict:
    return json.loads(re.search(r"<pre class=\"code\"><code>(\{.*?)</code></pre>", html.unescape(page), re.S).group(1))


def test_page_department_and_api_agree(client):
    response = client.post("/demand", data={"series": "1_3", "horizon": "6"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert shown_json(page) == demand(client, {"series": "1_3", "horizon": 6}).get_json()
    assert "<svg" in page and 'class="band"' in page and page.count("<tr><td>20") == 6


def test_page_pasted_history_and_api_agree(client):
    paste = "date,sales\n" + "\n".join(f"{week['date']},{week['sales']}" for week in HISTORY)
    page = client.post("/demand", data={"history": paste, "horizon": "3"}).get_data(as_text=True)
    assert shown_json(page) == demand(client, {"history": HISTORY, "horizon": 3}).get_json()


def test_page_shows_what_is_wrong_with_a_paste(client):
    response = client.post("/demand", data={"history": "2012-01-06,10\n2012-01-13,11", "horizon": "3"})
    assert response.status_code == 422 and "at least 65 weeks" in response.get_data(as_text=True)


def test_page_names_each_wrong_week_and_what_is_wrong(client):
    paste = "\n".join(f"{week['date']},{'lots' if i == 3 else week['sales']}" for i, week in enumerate(HISTORY))
    page = html.unescape(client.post("/demand", data={"history": paste}).get_data(as_text=True))
    assert f"<li>Line 4 ({HISTORY[3]['date']},lots): sales: Not a valid number.</li>" in page


@pytest.mark.parametrize("separator, date, number", [
    (";", lambda day: day.strftime("%d/%m/%Y"), lambda sales: f"{sales:.2f}".replace(".", ",")),
    ("\t", lambda day: day.strftime("%d/%m/%Y"), lambda sales: f"{sales:,.2f}".replace(",", "_").replace(".", ",")
     .replace("_", ".")),
    ("\t", lambda day: day.isoformat(), lambda sales: f"{sales:.2f}"),
], ids=["semicolon, dd/mm/yyyy, decimal comma", "tab, thousands dots and decimal comma", "tab, ISO"])
def test_page_reads_what_spreadsheets_copy(client, separator, date, number):
    from datetime import date as day_of

    rounded = [{"date": week["date"], "sales": round(week["sales"], 2)} for week in HISTORY]
    paste = "\n".join(f"{date(day_of.fromisoformat(week['date']))}{separator}{number(week['sales'])}"
                      for week in rounded)
    page = client.post("/demand", data={"history": paste, "horizon": "3"})
    assert page.status_code == 200, page.text[:3000]
    assert shown_json(page.get_data(as_text=True)) == demand(client, {"history": rounded, "horizon": 3}).get_json()


def test_the_api_says_the_date_format_it_takes(client):
    history = [dict(week) for week in HISTORY]
    history[0]["date"] = "22/04/2011"
    answer = demand(client, {"history": history})
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["history"]["0"]["date"] == [
        "Not a valid date: write it as YYYY-MM-DD, e.g. 2012-01-06."]

def test_page_refuses_huge_sales(client):
    paste = "\n".join(f"{week['date']},1e308" for week in HISTORY)
    response = client.post("/demand", data={"history": paste, "horizon": "3"})
    assert response.status_code == 422 and "sales: Must be a number from -1e+15 to 1e+15." in response.text
    assert "<li>Line 1 (" in response.text

@pytest.mark.parametrize("paste", ["2012-01-06," + "1" * 140_000, 'date,sales\n"' + "x" * 140_000 + '",1'],
                         ids=["long number", "long quoted date"])
def test_page_reads_a_field_longer_than_csv_takes(client, paste):
    response = client.post("/demand", data={"history": paste})
    assert response.status_code == 422 and "<li>Line " in response.text

def test_page_says_what_is_wrong_with_a_horizon_and_keeps_it(client):
    for horizon, message in (("99", "Must be greater than or equal to 1 and less than or equal to 52."),
                             ("0", "Must be greater than or equal to 1"), ("-1", "Must be greater than or equal to 1"),
                             ("abc", "Not a valid integer."), ("²", "Not a valid integer."),
                             ("٣", "Not a valid integer."), ("9" * 5000, "Not a valid integer.")):
        response = client.post("/demand", data={"series": "1_1", "horizon": horizon})
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and 'class="result"' not in page
        assert re.search(r'<ul class="errors" id="horizon-errors"><li>' + re.escape(message), page), horizon
        assert f'value="{horizon}" aria-invalid="true"' in page
    empty = client.post("/demand", data={"series": "1_1", "horizon": " "})
    assert empty.status_code == 200 and len(shown_json(empty.get_data(as_text=True))["forecast"]) == 8


def test_page_loads_nothing_from_another_host(client):
    page = client.post("/demand", data={"series": "1_1"}).get_data(as_text=True)
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all(re.fullmatch(r'<script src="/static/js/[\w-]+\.js" defer>', tag) for tag in scripts)

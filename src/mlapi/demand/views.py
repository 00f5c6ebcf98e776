"""GET /api/v1/demand/series and the /demand page with its chart."""
from __future__ import annotations

import csv
import io

from flask import jsonify, request

from mlapi.api.openapi import documented
from mlapi.demand.chart import draw
from mlapi.demand.model import MAX_HORIZON, series_list
from mlapi.demand.schemas import SeriesList
from mlapi.serving.registry import registry
from mlapi.web.forms import form_int, form_number
from mlapi.web.rendering import curl_command, error_lines, page_prediction, render_page

HISTORY_SHOWN = 52  # weeks of history drawn before the forecast


@documented("The known series", SeriesList, errors=(503,))
def series_json():
    """The known series: id, name and last date."""
    return jsonify(series=series_list(registry.get("demand").model))


def page():
    """Pick a department and a horizon, or paste a date,sales history; see the chart, table, JSON and curl."""
    model = registry.get("demand").model
    form = request.form
    horizon = form_int(form.get("horizon"), 8, 1, MAX_HORIZON)
    pasted = form.get("history", "").strip()
    series = form.get("series") or series_list(model)[0]["id"]
    payload = pasted_payload(pasted, horizon) if pasted else {"series": series, "horizon": horizon}
    shown = page_prediction("demand", payload, request.method == "POST")
    chart = draw(shown_history(model, payload), shown.result["forecast"]) if shown.result else None
    return render_page(shown, curl_command(request.use_case.api_path, payload), series_options=series_list(model),
                       series=series, horizon=horizon, max_horizon=MAX_HORIZON, pasted=pasted,
                       errors=readable(shown.errors), chart=chart)


def readable(errors: dict | None) -> dict | None:
    """The API's errors for the page, a week's own as ``history.3.sales: Not a valid number.`` rather than ``3``."""
    if errors and isinstance(errors.get("history"), dict):
        return {**errors, "history": error_lines(errors["history"], "history.")}
    return errors


def pasted_payload(text: str, horizon: int) -> dict:
    """A ``date,sales`` paste as the API's history (a header line is skipped; bad numbers stay text for the 422).

    A paste csv cannot read, with a field beyond its 131,072 characters, is split at commas instead.
    """
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        rows = [line.split(",") for line in text.splitlines()]
    rows = [row for row in rows if len(row) >= 2 and row[0].strip()]
    if rows and not rows[0][0].strip()[:1].isdigit():
        rows = rows[1:]
    history = [{"date": date.strip(), "sales": form_number(sales)} for date, sales, *_ in rows]
    return {"history": history, "horizon": horizon}


def shown_history(model, payload: dict) -> list[tuple[str, float]]:
    """The last weeks of the history the forecast continues, as (date, sales)."""
    if "series" in payload:
        known = model.series[payload["series"]]
        pairs = zip((str(d) for d in known.dates), known.sales.tolist(), strict=True)
    else:
        pairs = sorted((w["date"], w["sales"]) for w in payload["history"])
    return list(pairs)[-HISTORY_SHOWN:]

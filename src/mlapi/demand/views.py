"""GET /api/v1/demand/series and the /demand page with its chart."""
from __future__ import annotations

import re
from dataclasses import replace

from flask import jsonify, request
from flask_babel import format_decimal, gettext

from mlapi.api.openapi import documented
from mlapi.demand.chart import draw
from mlapi.demand.model import MAX_HORIZON, series_list
from mlapi.demand.schemas import SeriesList
from mlapi.serving.registry import registry
from mlapi.web.forms import form_decimal, form_number
from mlapi.web.rendering import curl_command, error_lines, page_prediction, render_page
from mlapi.words import N_

# What the model's card says of its data (mlapi.demand.model writes it), translated where /models shows it.
DATASET_WORDS = (
    N_("Walmart store sales, weekly, 7 departments of store 1 (2010-02-05 to 2012-10-26)"),
    N_("no open licence (Kaggle competition data): teaching use only"),
)
HISTORY_SHOWN = 52  # weeks of history drawn before the forecast
DEFAULT_HORIZON = 8  # the API's too


@documented("The known series", SeriesList, errors=(503,))
def series_json():
    """The known series: id, name and last date."""
    return jsonify(series=series_list(registry.get("demand").model))


def page():
    """Pick a department and a horizon, or paste a date,sales history; see the chart, table, JSON and curl."""
    model = registry.get("demand").model
    form = request.form
    horizon = typed_horizon(form.get("horizon", ""))
    pasted = form.get("history", "").strip()
    series = form.get("series") or series_list(model)[0]["id"]
    payload, lines = pasted_payload(pasted, horizon) if pasted else ({"series": series, "horizon": horizon}, [])
    shown = page_prediction("demand", payload, request.method == "POST")
    chart = localized(draw(shown_history(model, payload), shown.result["forecast"])) if shown.result else None
    options = [{**option, "name": department_name(option["name"])} for option in series_list(model)]
    return render_page(shown, curl_command(request.use_case.api_path, payload), series_options=options,
                       series=series, horizon=horizon, max_horizon=MAX_HORIZON, pasted=pasted,
                       errors=readable(shown.errors, lines), chart=chart)


def typed_horizon(text: str) -> int | str:
    """The weeks ahead as typed: a whole number (in range or not: the API's 422 names the field), the default
    when nothing was typed, or the text itself (``abc``, ``²``), which the API refuses as not a whole number."""
    text = text.strip()
    if not text:
        return DEFAULT_HORIZON
    if text.isascii() and re.fullmatch(r"[+-]?\d{1,9}", text):  # short ASCII digits only: int() never struggles
        return int(text)
    return text


def department_name(name: str) -> str:
    """A known series' name (``Dept 1``, the model's) in the page's language."""
    number = re.fullmatch(r"Dept (\d+)", name)
    return gettext("Dept %(number)s", number=number.group(1)) if number else name


def localized(chart):
    """The chart with its sales axis written the page's way (25,000 / 25.000); its coordinates stay as drawn."""
    def label(text: str) -> str:
        try:
            return format_decimal(float(text.replace(",", "")), "#,##0")
        except ValueError:
            return text
    return replace(chart, y_ticks=[(y, label(text)) for y, text in chart.y_ticks])


def readable(errors: dict | None, lines: list[tuple[int, str]]) -> dict | None:
    """The API's errors for the page, a week's own as ``Line 4 (2011-04-29;lots): sales: Not a valid number.``,
    naming the pasted line rather than the week's index."""
    if not errors or not isinstance(errors.get("history"), dict):
        return errors
    named = []
    for index, messages in sorted(errors["history"].items(), key=lambda item: int(item[0])):
        number, text = lines[int(index)] if int(index) < len(lines) else (int(index) + 1, "")
        named += [gettext("Line %(number)s (%(text)s): %(message)s", number=number, text=text[:60], message=line)
                  for line in error_lines(messages)]
    return {**errors, "history": named}


def pasted_payload(text: str, horizon: int | str) -> tuple[dict, list[tuple[int, str]]]:
    """A pasted history as the API's, with the line number and text of each week kept for the page's messages.

    Each line is a date and the week's sales, separated by a tab, a ``;`` or a ``,`` (what spreadsheets copy);
    dates are ISO or ``dd/mm/yyyy``; sales may use a decimal comma (``8468,72``, ``8.468,72``) after a tab or
    ``;``. A first line that does not start with a digit is a header. What cannot be read stays text, so the
    API's 422 names it.
    """
    history, lines = [], []
    written = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if written and not written[0][1].strip()[:1].isdigit():
        written = written[1:]  # a header
    for number, line in written:
        separator = "\t" if "\t" in line else ";" if ";" in line else ","
        date, _, sales = (part.strip() for part in line.partition(separator))
        sales = form_number(sales) if separator == "," else form_decimal(sales)  # a comma can be the decimal mark
        history.append({"date": iso_date(date), "sales": sales})
        lines.append((number, line.strip()))
    return {"history": history, "horizon": horizon}, lines


def iso_date(text: str) -> str:
    """``22/04/2011`` as ``2011-04-22``; anything else as it was written."""
    day, _, rest = text.partition("/")
    month, _, year = rest.partition("/")
    if all(part.isascii() and part.isdigit() for part in (day, month, year)) and len(day) <= 2 >= len(month) \
            and len(year) == 4:  # short ASCII digits only: int() refuses 4,300 digits and more
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text



def shown_history(model, payload: dict) -> list[tuple[str, float]]:
    """The last weeks of the history the forecast continues, as (date, sales)."""
    if "series" in payload:
        known = model.series[payload["series"]]
        pairs = zip((str(d) for d in known.dates), known.sales.tolist(), strict=True)
    else:
        pairs = sorted((w["date"], w["sales"]) for w in payload["history"])
    return list(pairs)[-HISTORY_SHOWN:]

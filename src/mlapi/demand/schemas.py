"""Request and response schemas of the demand API: a known series, or the client's own weekly history."""
import math

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from mlapi.demand.model import (
    FIRST_DATE,
    LAST_DATE,
    MAX_HORIZON,
    MAX_SALES,
    MIN_HISTORY,
    check_history,
    predict,
    series_list,
)
from mlapi.errors import ValidationFailed
from mlapi.words import N_

MAX_WEEKS = 1000
DATE_RANGE = N_("Must be a date from {first} to {last}.").format(first=FIRST_DATE, last=LAST_DATE)
SALES_RANGE = N_("Must be a number from {low:g} to {high:g}.").format(low=-MAX_SALES, high=MAX_SALES)


class Week(Schema):
    """One week's sales; NaN, infinities and a number too large for a float all get the range message."""

    date = fields.Date(required=True, validate=validate.Range(FIRST_DATE, LAST_DATE, error=DATE_RANGE),
                       error_messages={"invalid": N_("Not a valid date: write it as YYYY-MM-DD, e.g. 2012-01-06.")},
                       metadata={"description": f"ISO date of the week, {FIRST_DATE} to {LAST_DATE}, e.g. 2012-01-06."})
    sales = fields.Float(required=True, allow_nan=False,
                         error_messages={"too_large": SALES_RANGE, "special": SALES_RANGE},
                         validate=validate.Range(-MAX_SALES, MAX_SALES, error=SALES_RANGE),
                         metadata={"description": f"Sales that week, {-MAX_SALES:g} to {MAX_SALES:g}."})


class DemandRequest(Schema):
    """A known ``series`` id or a ``history`` of weekly sales, and how many weeks to forecast."""

    series = fields.String(validate=validate.Length(min=1, max=64),
                           metadata={"description": "An id from GET /api/v1/demand/series."})
    history = fields.List(fields.Nested(Week), validate=validate.Length(min=1, max=MAX_WEEKS),
                          metadata={"description": f"At least {MIN_HISTORY} consecutive weeks, one a week."})
    horizon = fields.Integer(strict=True, load_default=8, validate=validate.Range(1, MAX_HORIZON),
                             metadata={"description": "Weeks to forecast, 1 to 52 (default 8)."})

    @validates_schema
    def one_of_series_or_history(self, data: dict, **kwargs) -> None:
        if ("series" in data) == ("history" in data):
            raise ValidationError(N_("Send either 'series' or 'history', not both and not neither."), "_schema")
        if "history" in data and (problem := check_history(data["history"])):
            raise ValidationError(problem, "history")

    @post_load
    def to_items(self, data: dict, **kwargs) -> dict:
        return {"items": [data], "batch": False}


def check_known_series(model, items: list[dict]) -> None:
    """Refuse a series id the model does not know, listing the known ones.

    :raises ValidationFailed: unknown series (422).
    """
    known = [entry["id"] for entry in series_list(model)]
    for item in items:
        if "series" in item and item["series"] not in known:
            message = N_("Unknown series {series}; known: {known}.").format(series=repr(item["series"]),
                                                                            known=", ".join(known))
            raise ValidationFailed(message, {"series": [message]})


def finite_forecasts(model, items: list[dict]) -> list[dict]:
    """``predict``, refusing (422) rather than serving as null a forecast that is not a finite number.

    Sales within ``MAX_SALES`` keep the arithmetic finite, but a history can still defeat it: weeks
    of 1e-300 after weeks of 1e15 make a level so small that sales divided by it overflow.

    :raises ValidationFailed: some forecast, lower or upper value is NaN or infinite (422).
    """
    results = predict(model, items)
    weeks = [week for result in results for week in result["forecast"]]
    if all(math.isfinite(week[key]) for week in weeks for key in ("sales", "lower", "upper")):
        return results
    message = N_("This history's forecast is not a finite number: the mean of its last 52 weeks is too small "
                 "next to its other sales; send sales of similar sizes.")
    raise ValidationFailed(message, {"history": [message]})


class ForecastWeek(Schema):
    date = fields.String(required=True, metadata={"format": "date", "example": "2012-11-02"})
    sales = fields.Float(required=True)
    lower = fields.Float(required=True, metadata={"description": "Lower end of the interval."})
    upper = fields.Float(required=True, metadata={"description": "Upper end of the interval."})


class DemandResult(Schema):
    """The forecast weeks, continuing the history one week apart, with their interval."""

    forecast = fields.List(fields.Nested(ForecastWeek), required=True)
    interval = fields.Float(required=True, metadata={"description": "The interval's coverage (0.8: 80%)."})


class Series(Schema):
    id = fields.String(required=True, metadata={"example": "1_1"})
    name = fields.String(required=True)
    last_date = fields.String(required=True, metadata={"format": "date"})


class SeriesList(Schema):
    series = fields.List(fields.Nested(Series), required=True)

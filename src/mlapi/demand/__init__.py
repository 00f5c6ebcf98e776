"""Demand forecasting: weekly sales ahead, with an 80% interval."""
from flask import Blueprint

from mlapi.demand import model
from mlapi.demand.schemas import DemandRequest, DemandResult, check_known_series, finite_forecasts
from mlapi.usecase import UseCase

bp = Blueprint("demand", __name__)

use_case = UseCase(
    name="demand",
    title="Demand forecast",
    description=(
        "Forecasts weekly sales up to 52 weeks ahead, with an 80% interval: for a department of the store "
        "it learned from, or for your own weekly history of at least 65 weeks."
    ),
    train=model.train,
    predict=finite_forecasts,
    outcome=model.outcome,
    request_schema=DemandRequest,
    response_schema=DemandResult,
    example={"series": "1_1", "horizon": 8},
    headline_metric="mase",
    check=check_known_series,
    max_body_bytes=256 * 1024,
)

from mlapi.demand import routes  # noqa: E402,F401  (registers the routes on bp)

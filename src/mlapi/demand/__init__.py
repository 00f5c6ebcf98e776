"""Demand forecasting: weekly sales ahead, with an 80% interval."""
from mlapi.demand import model, views
from mlapi.demand.schemas import DemandRequest, DemandResult, check_known_series, finite_forecasts
from mlapi.usecase import Route, UseCase
from mlapi.web.i18n import N_


def kept(result: dict) -> list[dict]:
    """What the prediction log keeps of an answer, for feedback: each forecast week's date and sales."""
    return [{"date": week["date"], "sales": week["sales"]} for week in result["forecast"]]


use_case = UseCase(
    name="demand",
    title=N_("Demand forecast"),
    description=N_(
        "Forecasts weekly sales up to 52 weeks ahead, with an 80% interval: for a department of the store "
        "it learned from, or for your own weekly history of at least 65 weeks."
    ),
    train=model.train,
    predict=finite_forecasts,
    outcome=model.outcome,
    kept=kept,
    request_schema=DemandRequest,
    response_schema=DemandResult,
    example={"series": "1_1", "horizon": 8},
    headline_metric="mase",
    check=check_known_series,
    max_body_bytes=256 * 1024,
    model_types=frozenset({"mlapi.demand.model.DemandModel", "mlapi.demand.model.Series"}),
    package=__name__,
    page=views.page,
    routes=(Route("/api/v1/demand/series", views.series_json),),
)

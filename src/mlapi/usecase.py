"""The small interface every use case implements, what training returns, and the routes it makes."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from marshmallow import Schema

Step = Callable[[str], None]
Outcome = Callable[[dict], tuple[str | None, float | None]]
Kept = Callable[[dict], Any]


def no_progress(label: str) -> None:
    """Default progress callback: report nothing."""


def no_outcome(result: dict) -> tuple[str | None, float | None]:
    """Default for models without classes or a single score (recommendations)."""
    return None, None


def shares(labels: Iterable[str]) -> dict[str, float]:
    """How often each label occurs, as fractions that add up to 1."""
    counts = Counter(labels)
    total = sum(counts.values())
    return {label: round(count / total, 4) for label, count in sorted(counts.items())}


@dataclass
class Trained:
    """A fitted model with its held-out metrics and provenance, ready to save."""

    model: Any
    metrics: dict[str, Any]
    dataset: dict[str, Any]  # name, rows, license, source
    params: dict[str, Any] = field(default_factory=dict)
    label_shares: dict[str, float] | None = None  # predicted classes on held-out data: the drift baseline


class ContractBroken(Exception):
    """A published model that does not keep its use case's contract; the message says what to fix."""


@dataclass
class Evaluation:
    """What the server measured of a published model, and what serving it needs besides the model."""

    metrics: dict[str, Any]  # the same held-out metrics as a trained version's card
    label_shares: dict[str, float] | None  # predicted classes on the test split: the drift baseline
    description: str  # the model, in a few words, for the card's params
    dataset: dict[str, Any]  # the use case's data, as a trained card says it: name, rows, license, source
    explanation_method: str | None = None  # how its answers explain, where the use case explains
    serving: dict[str, Any] = field(default_factory=dict)  # JSON: a threshold, medians... (kept in the card)


@dataclass(frozen=True)
class Publishing:
    """How a use case takes models trained elsewhere (``POST /api/v1/models/<name>/versions``).

    ``contract`` says in words what the model must be. In a child process (:mod:`mlapi.publishing`),
    ``check(estimator, items)`` raises :class:`ContractBroken` for a model that cannot serve and
    predicts the card's example ``items`` (the model's own error stops the upload), then
    ``evaluate(estimator, data_dir)`` measures it on the use case's own held-out split. In every
    worker, ``serve(estimator, serving)`` makes what ``predict`` takes from the uploaded estimator.
    """

    contract: str
    check: Callable[[Any, list[dict]], None]
    evaluate: Callable[[Any, Path], Evaluation]
    serve: Callable[[Any, dict[str, Any]], Any]


@dataclass(frozen=True)
class Route:
    """A route a use case adds besides its prediction endpoint and its page (``view``'s name is its endpoint);
    ``free``: not counted by the rate limits, like a static file (a page's images)."""

    rule: str
    view: Callable[..., ResponseReturnValue]
    methods: tuple[str, ...] = ("GET",)
    free: bool = False


@dataclass(frozen=True)
class UseCase:
    """One model behind the API: how to train it, how to predict, what it accepts, where people try it.

    ``train(data_dir, sample, step)`` reads ``data_dir`` (the use case's own
    folder under ``data/``), fits on a ``sample`` fraction of the rows (1.0 in
    production, small in tests), calls ``step(label)`` as it goes, and
    returns a :class:`Trained`. ``predict(model, items)`` maps a list of
    validated request items to a list of result dicts, in order. Neither
    touches Flask. ``check(model, items)``, if given, validates what only the
    loaded model knows (such as which movie ids exist) and raises
    ``ValidationFailed``. ``max_body_bytes`` caps the request body of its routes (413).
    ``outcome(result)`` names one result's predicted class and score for monitoring.
    ``kept(result)``, if given, is what the prediction log keeps of one result (a small JSON value: the
    class and score, the forecast...; never the input), so that feedback can later say how right it was.
    ``response_schema`` describes one result (the OpenAPI document adds ``model`` and the
    batch form); ``upload_field`` names a multipart file field the endpoint also takes.
    ``model_types`` lists the classes of its own that its model files may name, besides what
    :mod:`mlapi.serving.model_files` allows every model (scikit-learn, NumPy, SciPy).
    ``publishing`` is how it takes published models (None: it takes none).

    Its :attr:`blueprint`, named ``name``, carries ``POST /api/v1/<name>``, the page ``/<name>``
    (``page``, or a form for any JSON body when None) and its other ``routes``. ``package`` is the
    import name of the package that holds its ``templates/<name>/`` and ``static/`` folders.
    """

    name: str
    title: str
    description: str
    train: Callable[[Path, float, Step], Trained]
    predict: Callable[[Any, list[dict]], list[dict]]
    request_schema: type[Schema]
    response_schema: type[Schema]
    example: dict[str, Any]
    headline_metric: str
    training_steps: tuple[str, ...] = ("read data", "fit", "evaluate")
    check: Callable[[Any, list[dict]], None] | None = None
    max_body_bytes: int = 1024 * 1024
    outcome: Outcome = no_outcome
    kept: Kept | None = None
    upload_field: str | None = None
    model_types: frozenset[str] = frozenset()
    package: str | None = None
    page: Callable[[], ResponseReturnValue] | None = None
    routes: tuple[Route, ...] = ()
    publishing: Publishing | None = None

    @property
    def api_path(self) -> str:
        return f"/api/v1/{self.name}"

    @cached_property
    def blueprint(self) -> Blueprint:
        """The use case's routes, under its name: the prediction endpoint, the page, the others."""
        from mlapi.serving.prediction import endpoint  # the flow imports the registry, which imports this module
        from mlapi.web.rendering import json_form_page

        bp = Blueprint(self.name, self.package or __name__, template_folder="templates" if self.package else None)
        if self.package and (Path(bp.root_path) / "static").is_dir():
            bp.static_folder, bp.static_url_path = "static", f"/static/{self.name}"
        bp.add_url_rule(self.api_path, "predict_json", endpoint(self), methods=["POST"])
        bp.add_url_rule(f"/{self.name}", "page", self.page or json_form_page, methods=["GET", "POST"])
        for route in self.routes:
            if route.free:
                route.view.free_of_limits = True
            bp.add_url_rule(route.rule, view_func=route.view, methods=list(route.methods))
        return bp

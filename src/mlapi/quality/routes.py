"""``POST /api/v1/feedback`` (any key) and ``GET /api/v1/models/<name>/quality`` (anyone)."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, jsonify, request

from mlapi.access.keys import Unauthorized
from mlapi.api.openapi import documented
from mlapi.api.routes import use_case_named
from mlapi.observability.prediction_log import utc_now
from mlapi.quality import feedback as feedback_store
from mlapi.quality.live import held_out, live_quality, version_order
from mlapi.quality.schemas import FeedbackBatch, FeedbackRequest, FeedbackStored, Quality, QualityQuery
from mlapi.serving.prediction import json_payload, load, schema_instance
from mlapi.serving.registry import registry
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline
from mlapi.words import N_

bp = Blueprint("quality", __name__, url_prefix="/api/v1")

# The documented example answers on a fresh server too (the document's examples are all called by its tests):
# an empty batch stores nothing. docs/api.md and docs/quality.md show real ones.
EXAMPLE = {"items": []}


@bp.post("/feedback")
@documented("Give the true outcome of a prediction", (FeedbackStored, FeedbackBatch), body=FeedbackRequest,
            example=EXAMPLE, errors=(403, 404, 503))
def give_feedback():
    """The true outcome of an answered prediction, named by the request id of its answer (`X-Request-ID`) and,
    for an item of a batch, its `position` (from 0; default 0). The truth goes in the one field its use case
    takes: `label` (sentiment: negative, neutral or positive; xray: normal or pneumonia), `is_fraud` (fraud:
    true or false), `sales` (demand: the real sales of the first forecast week, or a list for the forecast
    weeks in order) or `movie_id` (recommend: the movie watched). Example:
    `{"request_id": "3f1c...", "label": "negative"}`; or a batch, `{"items": [{...}, ...]}` (up to 1,000,
    stored whole or not at all).

    Any key: a client key for its own predictions, an admin key for any (no key: 401; another key's
    prediction: 403). An unknown request id, a position past the prediction's items or a prediction older than
    the log's retention is a 404; a truth field or value its use case does not take a 422 that names the one
    it takes. A second truth for the same item replaces the first (`replaced`). The answer (200) is what was
    stored, with what was predicted; a batch's is `{"items": [...]}` in order. Right after a prediction its
    log row may not be written yet: the server waits up to 1.5 s for it."""
    caller = request.state.caller
    if caller.role == "anonymous":
        raise Unauthorized(N_("Feedback needs the key that made the prediction (or an admin key): send "
                              "'Authorization: Bearer <key>'."))
    body = load(schema_instance(FeedbackRequest), json_payload())
    stored = feedback_store.give(body["items"], caller, body["batch"])
    return jsonify(items=stored) if body["batch"] else jsonify(stored[0])


give_feedback.required_role = "client"  # a key of any role; the document says so (no anonymous security)


@bp.get("/models/<name>/quality")
@documented("Live quality of a model, from feedback", Quality, query=QualityQuery, model_name=True, errors=(503,))
def model_quality(name: str):
    """How right each version of `name` was on the feedback given for its predictions of the last `minutes`
    (1 to 525,600; default 10,080, a week), beside the same figures on held-out data from its card:
    accuracy and macro-F1 (sentiment); sensitivity, specificity (pneumonia is positive) and accuracy (xray);
    precision and recall of the flag (fraud); MAPE and MAE (demand); hit rate (recommend). Classifiers add
    their confusion matrix, counts per true class then per predicted class. The serving version is listed even
    without feedback. Reads the database: 503 with `Retry-After` while it is unreachable."""
    use_case_named(name)
    minutes = load(schema_instance(QualityQuery), request.args)["minutes"]
    with deadline(REQUEST_DEADLINE_SECONDS):
        measured = live_quality(name, utc_now() - timedelta(minutes=minutes))
    serving = registry.loaded.get(name)
    if serving is not None and serving.version not in measured:
        measured[serving.version] = {"count": 0, "metrics": dict.fromkeys(held_out(name, serving.version))}
    versions = [{"version": version, "count": found["count"], "metrics": found["metrics"],
                 "confusion": found.get("confusion"), "held_out": held_out(name, version)}
                for version, found in sorted(measured.items(), key=lambda item: version_order(item[0]))]
    return jsonify(name=name, window_minutes=minutes, versions=versions)

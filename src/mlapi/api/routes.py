"""/api/v1/health, the models (list, card, publish, activate, delete) and /api/v1/usage (admin)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from mlapi import extensions
from mlapi.access.keys import Forbidden, Unauthorized, admin_only
from mlapi.api.openapi import documented
from mlapi.api.schemas import (
    ActivateRequest,
    Health,
    ModelCard,
    ModelList,
    PublishedCard,
    PublishForm,
    Usage,
    UsageQuery,
)
from mlapi.errors import NotFound, ValidationFailed, WrongContentType
from mlapi.observability.activity import usage_per_key
from mlapi.publishing.publish import publish
from mlapi.server.http_guards import body_cap
from mlapi.serving.prediction import json_payload, load
from mlapi.serving.registry import ArtifactRefused, registry
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline
from mlapi.usecase import UseCase
from mlapi.words import N_

bp = Blueprint("api", __name__, url_prefix="/api/v1")

CARD_FIELDS = ("version", "created_at", "sha256", "metrics", "dataset", "params", "source", "publisher", "note",
               "size_bytes", "latency_ms", "explanation_method", "libraries")
EXAMPLE_SCRIPTS = "examples/publish_{name}.py"


@bp.get("/health")
@documented("Service health", Health, degraded=True)
def health():
    """503 when a model cannot serve its active version here (this instance is broken), else 200.

    The database and the limit storage are shared by every instance: while they are away the
    body says so (``degraded``), but the status stays 200, since a load balancer that took every
    instance out would stop the predictions that still work.
    """
    models_ok, models, problems = registry.health()
    database_up = extensions.database_outage().up
    if not database_up:
        problems = [*problems, "database unreachable: keys seen recently still work, rows are held in memory"]
    limits = extensions.rate_limits()
    if limits_problem := limits.problem():
        problems = [*problems, limits_problem]
    body = {"status": "degraded" if problems else "ok", "models": models, "database": "up" if database_up else "down",
            "limit_storage": "off" if not limits.enabled else "down" if limits_problem else "up"}
    if problems:
        body["problems"] = problems
    return jsonify(body), 200 if models_ok else 503


@bp.get("/models")
@documented("List the models", ModelList)
def models():
    """Every use case with its serving version and all its versions."""
    listed = [
        {
            "name": name,
            "title": use_case.title,
            "active_version": serving_version(name),
            "versions": registry.versions(name),
        }
        for name, use_case in registry.use_cases.items()
    ]
    return jsonify(models=listed)


@bp.get("/models/<name>")
@documented("A model's card", ModelCard, model_name=True)
def model_card(name: str):
    """The model card: what the model does, every version's metrics, how to call it."""
    return jsonify(card_of(name))


@bp.put("/models/<name>/active")
@documented("Switch the serving version (admin)", ModelCard, body=ActivateRequest, example={"version": "v1"},
            model_name=True, errors=(503,))
@admin_only
def activate(name: str):
    """Make a version of ``name`` the one that serves (admin); it is loaded and checked first."""
    use_case_named(name)
    version = load(ActivateRequest(), json_payload())["version"]
    try:
        registry.activate(name, version)
    except ArtifactRefused as refused:
        reason = N_("{reason}; the active version is unchanged.").format(reason=refused)
        raise ValidationFailed(reason, {"version": [str(refused)]}) from None
    return jsonify(card_of(name))


@bp.post("/models/<name>/versions")
@documented("Publish a model of your own", PublishedCard, upload=PublishForm, model_name=True, errors=(403, 503),
            status=201)
@body_cap("PUBLISH_MAX_BYTES")
def publish_version(name: str):
    """Upload a model saved with skops (multipart field ``model``, optional ``note``) as a new version, with an
    admin key or a key allowed to publish. The server checks it in a child process and measures it on the
    use case's held-out split; the answer is the new version's card. It serves once an admin activates it;
    before that, the key that published it may try it: ``POST /api/v1/<name>?version=vN``."""
    use_case_named(name)
    caller = request.state.caller
    if caller.role == "anonymous":
        raise Unauthorized(N_("Publishing needs a key that may publish: send 'Authorization: Bearer <key>'."))
    if not caller.may_publish:
        raise Forbidden(N_("This key may not publish models; an admin can create one that may: "
                           "flask --app mlapi keys create NAME --publish"))
    if request.mimetype != "multipart/form-data":
        raise WrongContentType(N_("Send the model as multipart form data: curl -F model=@model.skops -F note='...'"))
    note = load(PublishForm(only=("note",)), {"note": request.form.get("note", "").strip()})["note"]
    upload = request.files.get("model")
    if upload is None or not upload.filename:
        raise ValidationFailed(N_("Attach the skops file in a multipart field named 'model': curl -F "
                                  "model=@model.skops"), {"model": [N_("No file sent.")]})
    card = publish(registry, current_app.config, name, upload.stream, note, caller.name, caller.role)
    response = jsonify({"name": name, **version_entry(card)})
    response.status_code, response.headers["Location"] = 201, f"/api/v1/models/{name}"
    return response


@bp.delete("/models/<name>/versions/<version>")
@documented("Delete a version", ModelCard, model_name=True, errors=(403,))
def delete_version(name: str, version: str):
    """Delete a version that is not active: an admin any, a key the versions it published. The model card."""
    use_case_named(name)
    caller = request.state.caller
    if caller.role == "anonymous":
        raise Unauthorized(N_("Deleting a version needs a key: send 'Authorization: Bearer <key>'."))
    if version not in registry.folders(name):
        raise NotFound(N_("{name} has no version {version}; GET /api/v1/models/{name} lists them.").format(
            name=name, version=version))
    if caller.role != "admin" and registry.card(name, version).get("publisher") != caller.name:
        raise Forbidden(N_("Only an admin or the key that published {name} {version} may delete it.").format(
            name=name, version=version))
    try:
        registry.delete(name, version)
    except ArtifactRefused as refused:
        reason = N_("Not deleted: {reason}.").format(reason=refused)
        raise ValidationFailed(reason, {"version": [str(refused)]}) from None
    return jsonify(card_of(name))


@bp.get("/usage")
@documented("Prediction requests per key (admin)", Usage, query=UsageQuery, errors=(503,))
@admin_only
def usage():
    """Prediction requests per key (null: anonymous) and use case over the last ``minutes`` (admin)."""
    minutes = load(UsageQuery(), request.args)["minutes"]
    with deadline(REQUEST_DEADLINE_SECONDS):
        keys = usage_per_key(minutes)
    return jsonify(window_minutes=minutes, keys=keys)


def serving_version(name: str) -> str | None:
    loaded = registry.loaded.get(name)
    return loaded.version if loaded else None


def use_case_named(name: str) -> UseCase:
    """The use case called ``name``.

    :raises NotFound: there is no such use case (404).
    """
    use_case = registry.use_cases.get(name)
    if use_case is None:
        raise NotFound(N_("There is no model named '{name}'; GET /api/v1/models lists them.").format(name=name))
    return use_case


def card_of(name: str) -> dict[str, Any]:
    """The model card of use case ``name``.

    :raises NotFound: there is no such use case.
    """
    use_case = use_case_named(name)
    cards = [registry.card(name, version) for version in registry.versions(name)]
    active = serving_version(name)
    current = next((card for card in cards if card["version"] == active), cards[-1] if cards else {})
    config = current_app.config
    return {
        "name": name,
        "title": use_case.title,
        "description": use_case.description,
        "active_version": active,
        "versions": [version_entry(card) for card in cards],
        "input_schema": current.get("input_schema"),
        "example": current.get("example", use_case.example),
        "headline_metric": use_case.headline_metric,
        "publish": {
            "accepted": use_case.publishing is not None,
            "contract": use_case.publishing.contract if use_case.publishing else None,
            "example_script": EXAMPLE_SCRIPTS.format(name=name) if use_case.publishing else None,
            "max_bytes": int(config["PUBLISH_MAX_BYTES"]),
            "max_latency_ms": float(config["PUBLISH_MAX_LATENCY_MS"]),
        },
    }


def version_entry(card: dict[str, Any]) -> dict[str, Any]:
    """One version as the API shows it (a trained one has no publisher, note, size or latency)."""
    return {key: card.get(key, "trained" if key == "source" else None) for key in CARD_FIELDS}

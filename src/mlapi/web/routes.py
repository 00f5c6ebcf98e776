"""The home page, /models (leaderboards, publishing), /monitor (the last hour, live), /metrics (Prometheus),
the key form and the language switch."""
from __future__ import annotations

import shlex

from flask import Blueprint, current_app, redirect, render_template, request, session
from flask_babel import format_decimal, gettext
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.exceptions import NotFound
from wtforms import ValidationError

from mlapi import extensions
from mlapi.access.keys import SESSION_KEY, find_key, remember_key
from mlapi.alerts.evaluator import recent_alerts
from mlapi.api.openapi import documented
from mlapi.observability import metrics
from mlapi.observability.activity import (
    DRIFT_DISTANCE,
    DRIFT_MIN_ITEMS,
    WINDOW_MINUTES,
    CachedSummary,
    usage_per_key,
)
from mlapi.publishing.publish import PublishBusy, PublishRefused, publish
from mlapi.server.http_guards import body_cap
from mlapi.serving.registry import ArtifactRefused, registry
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline
from mlapi.web.i18n import COOKIE, COOKIE_SECONDS, LANGUAGES
from mlapi.web.numbers import is_number, metric_name, number
from mlapi.web.rendering import KEY_HEADER, api_url, curl_command, curl_get

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    """List the use cases, each with its active version and headline metric."""
    rows = []
    for name, use_case in registry.use_cases.items():
        loaded = registry.loaded.get(name)
        metric = loaded.card["metrics"].get(use_case.headline_metric) if loaded else None
        rows.append({"use_case": use_case, "version": loaded.version if loaded else None, "metric": metric})
    return render_template("index.html", rows=rows, curl=curl_get("/api/v1/models"))


@bp.app_context_processor
def navigation() -> dict:
    """Every page's menu lists the use cases; its forms carry a CSRF token."""
    return {"nav_use_cases": list(registry.use_cases.values()), "csrf_token": generate_csrf}


@bp.post("/key")
def use_key():
    """Keep the key a person entered for this browser's pages, then go back to the page that asked."""
    if not valid_csrf(request.form):
        return render_template("errors/key_needed.html", next=local_path(request.form.get("next")),
                               detail=gettext("The form expired; enter the key again.")), 400
    with deadline(REQUEST_DEADLINE_SECONDS):
        row = find_key(request.form.get("key", "").strip())
        found = (row.lookup_id, row.key_hash) if row else None
    if found is None:
        return render_template("errors/key_needed.html", next=local_path(request.form.get("next")),
                               detail=gettext("That API key is unknown or revoked.")), 401
    remember_key(*found)
    return redirect(local_path(request.form.get("next")), 303)


@bp.post("/key/forget")
def forget_key():
    """Forget this browser's key."""
    if valid_csrf(request.form):
        session.pop(SESSION_KEY, None)
    return redirect("/", 303)


@bp.get("/lang/<code>")
def set_language(code: str):
    """Keep the language chosen (``en`` or ``pt-BR``) for a year, and go back to the page (on this site only)."""
    if code not in LANGUAGES:
        raise NotFound()
    response = redirect(local_path(request.args.get("next")), 303)
    response.set_cookie(COOKIE, code, max_age=COOKIE_SECONDS, samesite="Lax", secure=request.is_secure)
    return response


def valid_csrf(form) -> bool:
    try:
        validate_csrf(form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def local_path(path: str | None) -> str:
    """``path`` if it is a path on this site (never another host), else the home page."""
    return path if path and path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


@bp.route("/models", methods=["GET", "POST"])
@body_cap("PUBLISH_MAX_BYTES")
def models_page():
    """Each use case's leaderboard of versions, best headline metric first; a student publishes a model (key
    that may publish), an admin switches versions (both forms CSRF-protected, each with the key it needs)."""
    message, status, headers = None, 200, {}
    if request.method == "POST":
        if request.form.get("action") == "publish":
            message, status = publish_from_page(request.form, request.files)
            if status == 503:
                headers["Retry-After"] = str(PublishBusy.retry_after)
        else:
            message, status = change_version(request.form)
        named = request.form.get("name", "")
        message["name"] = named if named in registry.use_cases else None
    use_cases = []
    for name, use_case in registry.use_cases.items():
        cards = [registry.card(name, version) for version in registry.versions(name)]
        headline = use_case.headline_metric
        metrics = sorted({key for card in cards for key, value in card["metrics"].items()
                          if is_number(value) and key != headline})  # the headline has its own column, first
        use_cases.append({"use_case": use_case, "rows": leaderboard(cards, headline), "cards": cards,
                          "metrics": metrics, "headline": headline, "active": registry.active_version(name),
                          "rollback_to": registry.rollback_target(name),
                          "publish_curl": publish_curl(name) if use_case.publishing else None})
    taking = [use_case for use_case in registry.use_cases.values() if use_case.publishing]
    return render_template("models.html", use_cases=use_cases, taking=taking, message=message,
                           csrf_token=generate_csrf(), curl=activate_curl(request.form),
                           max_mb=int(current_app.config["PUBLISH_MAX_BYTES"]) // (1024 * 1024),
                           note_max=NOTE_MAX), status, headers


LOWER_IS_BETTER = {"mase", "mae", "mse", "rmse", "mape", "smape", "brier", "log_loss"}  # errors: smaller wins
NOTE_MAX = 500  # characters of a publisher's note (the API's PublishForm says the same)


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER or metric.endswith(("_error", "_loss"))


def leaderboard(cards: list[dict], headline: str) -> list[dict]:
    """The versions best first by ``headline`` (ties: the earlier version first), those without it last;
    each with its rank (equal figures share one) and what the table shows of it."""
    def figure(card: dict):
        value = card["metrics"].get(headline)
        return value if is_number(value) else None

    sign = 1 if lower_is_better(headline) else -1
    ordered = sorted(cards, key=lambda card: (figure(card) is None, sign * (figure(card) or 0),
                                              int(card["version"][1:])))
    rows, previous, rank = [], None, 0
    for place, card in enumerate(ordered, start=1):
        value = figure(card)
        if value is not None and value != previous:
            rank, previous = place, value
        latency = card.get("latency_ms") or {}
        rows.append({"card": card, "rank": rank if value is not None else None, "headline": value,
                     "source": source_of(card), "note": card.get("note") or "",
                     "p50": milliseconds(latency.get("p50")) if is_number(latency.get("p50")) else None})
    return rows


def source_of(card: dict) -> str:
    """trained, published by <key name>, or published from the command line (a version with no key)."""
    if card.get("source") != "published":
        return gettext("trained")
    if card.get("publisher"):
        return gettext("published by %(name)s", name=card["publisher"])
    return gettext("published from the command line")


def milliseconds(value: float) -> str:
    """A latency as people read it, in the page's language: 0.42, 1.2, 38 (0,42, 1,2, 38 in pt-BR)."""
    return format_decimal(value, "0.00" if value < 1 else "0.0" if value < 10 else "#,##0")


def publish_curl(name: str) -> str:
    """The API call behind the publish form, for a script or a terminal."""
    lines = [f"curl -s -X POST {api_url(f'/api/v1/models/{name}/versions')}", KEY_HEADER,
             f"-F model=@{name}.skops", "-F " + shlex.quote("note=" + gettext("what you changed"))]
    return " \\\n  ".join(lines)


def publish_from_page(form, files) -> tuple[dict, int]:
    """Publish the uploaded file as the form asks; the message to show and the status."""
    if not valid_csrf(form):
        return {"error": gettext("The form expired or did not come from this page; reload it and try again.")}, 400
    with deadline(REQUEST_DEADLINE_SECONDS):
        row = find_key(form.get("key", "").strip())
        publisher, role, may = (row.name, row.role, row.role == "admin" or bool(row.can_publish)) if row else \
            (None, None, False)
    if role is None:
        return {"error": gettext("That API key is unknown or revoked.")}, 401
    if not may:
        return {"error": gettext("That key may not publish models; an admin can create one that may: "
                                 "flask --app mlapi keys create NAME --publish")}, 403
    name = form.get("name", "")
    if name not in registry.use_cases:
        return {"error": gettext("There is no model named %(name)s.", name=repr(name))}, 404
    note = form.get("note", "").strip()
    if len(note) > NOTE_MAX:
        return {"error": gettext("The note is %(length)s characters long; at most %(most)s, please.",
                                 length=len(note), most=NOTE_MAX)}, 422
    upload = files.get("model")
    if upload is None or not upload.filename:
        return {"error": gettext("Choose the skops file of your model (saved with skops.io.dump) to publish.")}, 422
    try:
        card = publish(registry, current_app.config, name, upload.stream, note, publisher, role, via="page")
    except (PublishRefused, PublishBusy) as refused:
        return {"error": gettext("Not published (%(status)s): %(detail)s", status=refused.status,
                                 detail=refused.detail)}, refused.status
    return {"ok": published_message(name, card)}, 200


def published_message(name: str, card: dict) -> str:
    """sentiment v3 published: accuracy 0.79 (held-out), p50 1.2 ms. An admin can activate it below."""
    headline = registry.use_cases[name].headline_metric
    value = card["metrics"].get(headline)
    measured = [gettext("%(metric)s %(value)s (held-out)", metric=metric_name(headline),
                        value=number(value, most=4))] if is_number(value) else []
    p50 = (card.get("latency_ms") or {}).get("p50")
    measured += [f"p50 {milliseconds(p50)} ms"] if is_number(p50) else []
    return gettext("%(name)s %(version)s published: %(measured)s. An admin can activate it below.", name=name,
                   version=card["version"], measured=", ".join(measured) or gettext("measured"))


def activate_curl(form) -> str:
    """The API call behind the admin form: the model and version the form last sent, else the first model's."""
    chosen = form.get("name", "")
    name = chosen if chosen in registry.use_cases else next(iter(registry.use_cases))
    version = form.get("version") if chosen == name and form.get("version") else registry.active_version(name)
    return curl_command(f"/api/v1/models/{name}/active", {"version": version}, method="PUT", needs_key=True)


@bp.get("/monitor")
def monitor():
    """The last hour per use case, for a projector; a served script refreshes the panel every few seconds.
    With an admin's key on this browser's pages, also each key's requests and errors (a class's students)."""
    usage = curl_get(f"/api/v1/usage?minutes={WINDOW_MINUTES}", needs_key=True)  # an admin endpoint
    return render_template("monitor.html", **monitor_context(), curl=usage, keys=keys_of_the_hour())


def keys_of_the_hour() -> list[dict] | None:
    """Each key's predictions in the last hour, for an admin (None for anyone else, or while the database is away)."""
    if request.state.caller.role != "admin":
        return None
    database = extensions.database_outage()
    try:
        with deadline(REQUEST_DEADLINE_SECONDS):
            return usage_per_key(WINDOW_MINUTES)
    except Exception as error:
        database.absorb(error)
        return None


@bp.get("/monitor/panel")
def monitor_panel():
    """The panel of /monitor alone, what its script swaps in."""
    return render_template("_monitor_panel.html", **monitor_context())


@bp.record_once
def make_summary(state) -> None:
    extensions.monitor_summary.install(state.app, CachedSummary(state.app.config["MONITOR_CACHE_SECONDS"]))


def monitor_context() -> dict:
    activities, now = extensions.monitor_summary().get()
    return {"activities": activities, "updated": now.strftime("%H:%M:%S"), "window": WINDOW_MINUTES,
            "drift_distance": DRIFT_DISTANCE, "drift_min_items": DRIFT_MIN_ITEMS, "alerts": last_alerts()}


def last_alerts() -> list | None:
    """The last 20 alerts, newest first (those firing are the page's banner); None while the database is away."""
    database = extensions.database_outage()
    if not database.up:
        return None
    try:
        with deadline(REQUEST_DEADLINE_SECONDS):
            return recent_alerts()
    except Exception as error:
        database.absorb(error)
        return None


@bp.get("/metrics")
@documented("Prometheus metrics, all workers added up", media_type="text/plain")
def metrics_text():
    """Prometheus text format, every worker's values added up."""
    return metrics.exposition()


def change_version(form) -> tuple[dict, int]:
    """Activate or roll back as the admin form asks; the message to show and the status."""
    if not valid_csrf(form):
        return {"error": gettext("The form expired or did not come from this page; reload it and try again.")}, 400
    with deadline(REQUEST_DEADLINE_SECONDS):
        row = find_key(form.get("key", "").strip())
        role = row.role if row else None
    if role is None:
        return {"error": gettext("That API key is unknown or revoked.")}, 401
    if role != "admin":
        return {"error": gettext("Switching versions needs an admin key; that one is a client key.")}, 403
    name = form.get("name", "")
    if name not in registry.use_cases:
        return {"error": gettext("There is no model named %(name)s.", name=repr(name))}, 404
    previous, rollback = registry.active_version(name), form.get("action") == "rollback"
    try:
        loaded = registry.rollback(name) if rollback else registry.activate(name, form.get("version", ""))
    except ArtifactRefused as refused:
        return {"error": gettext("%(refused)s; nothing changed.", refused=refused)}, 422
    if rollback:
        return {"ok": gettext("%(name)s: %(version)s is now active (rolled back from %(previous)s). Every worker "
                              "serves it within about two seconds.", name=name, version=loaded.version,
                              previous=previous)}, 200
    return {"ok": gettext("%(name)s: %(version)s is now active. Every worker serves it within about two seconds.",
                          name=name, version=loaded.version)}, 200

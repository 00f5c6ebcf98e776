"""The home page, /models (versions), /monitor (the last hour, live) and /metrics (Prometheus)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from mlapi import extensions
from mlapi.access.keys import SESSION_KEY, find_key, remember_key
from mlapi.api.openapi import documented
from mlapi.observability import metrics
from mlapi.observability.activity import DRIFT_DISTANCE, DRIFT_MIN_ITEMS, WINDOW_MINUTES, CachedSummary
from mlapi.serving.registry import ArtifactRefused, registry
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline
from mlapi.web.rendering import curl_command, curl_get

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
                               detail="The form expired; enter the key again."), 400
    with deadline(REQUEST_DEADLINE_SECONDS):
        row = find_key(request.form.get("key", "").strip())
        found = (row.lookup_id, row.key_hash) if row else None
    if found is None:
        return render_template("errors/key_needed.html", next=local_path(request.form.get("next")),
                               detail="That API key is unknown or revoked."), 401
    remember_key(*found)
    return redirect(local_path(request.form.get("next")), 303)


@bp.post("/key/forget")
def forget_key():
    """Forget this browser's key."""
    if valid_csrf(request.form):
        session.pop(SESSION_KEY, None)
    return redirect("/", 303)


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
def models_page():
    """Every version's metrics side by side; an admin (key in a CSRF-protected form) switches versions."""
    message, status = None, 200
    if request.method == "POST":
        message, status = change_version(request.form)
    use_cases = []
    for name, use_case in registry.use_cases.items():
        cards = [registry.card(name, version) for version in registry.versions(name)]
        metrics = sorted({key for card in cards for key, value in card["metrics"].items() if is_figure(value)})
        use_cases.append({"use_case": use_case, "cards": cards, "metrics": metrics,
                          "active": registry.active_version(name), "rollback_to": registry.rollback_target(name)})
    return render_template("models.html", use_cases=use_cases, message=message, csrf_token=generate_csrf(),
                           curl=activate_curl(request.form)), status


def activate_curl(form) -> str:
    """The API call behind the admin form: the model and version the form last sent, else the first model's."""
    chosen = form.get("name", "")
    name = chosen if chosen in registry.use_cases else next(iter(registry.use_cases))
    version = form.get("version") if chosen == name and form.get("version") else registry.active_version(name)
    return curl_command(f"/api/v1/models/{name}/active", {"version": version}, method="PUT", needs_key=True)


@bp.get("/monitor")
def monitor():
    """The last hour per use case, for a projector; a served script refreshes the panel every few seconds."""
    usage = curl_get(f"/api/v1/usage?minutes={WINDOW_MINUTES}", needs_key=True)  # an admin endpoint
    return render_template("monitor.html", **monitor_context(), curl=usage)


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
            "drift_distance": DRIFT_DISTANCE, "drift_min_items": DRIFT_MIN_ITEMS}


@bp.get("/metrics")
@documented("Prometheus metrics, all workers added up", media_type="text/plain")
def metrics_text():
    """Prometheus text format, every worker's values added up."""
    return metrics.exposition()


def is_figure(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def change_version(form) -> tuple[dict, int]:
    """Activate or roll back as the admin form asks; the message to show and the status."""
    if not valid_csrf(form):
        return {"error": "The form expired or did not come from this page; reload it and try again."}, 400
    with deadline(REQUEST_DEADLINE_SECONDS):
        row = find_key(form.get("key", "").strip())
        role = row.role if row else None
    if role is None:
        return {"error": "That API key is unknown or revoked."}, 401
    if role != "admin":
        return {"error": "Switching versions needs an admin key; that one is a client key."}, 403
    name = form.get("name", "")
    if name not in registry.use_cases:
        return {"error": f"There is no model named {name!r}."}, 404
    try:
        current, rolled_back = registry.active_version(name), ""
        if form.get("action") == "rollback":
            loaded = registry.rollback(name)
            rolled_back = f" (rolled back from {current})"
        else:
            loaded = registry.activate(name, form.get("version", ""))
    except ArtifactRefused as refused:
        return {"error": f"{refused}; nothing changed."}, 422
    return {"ok": f"{name}: {loaded.version} is now active{rolled_back}. Every worker serves it within about two "
                  "seconds."}, 200

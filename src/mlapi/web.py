"""The home page: every use case with its serving version and headline metric."""
from __future__ import annotations

from flask import Blueprint, render_template

from mlapi.registry import registry

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    """List the use cases, each with its active version and headline metric."""
    rows = []
    for name, use_case in registry.use_cases.items():
        loaded = registry.loaded.get(name)
        metric = loaded.card["metrics"].get(use_case.headline_metric) if loaded else None
        rows.append({"use_case": use_case, "version": loaded.version if loaded else None, "metric": metric})
    return render_template("index.html", rows=rows)


@bp.app_context_processor
def navigation() -> dict:
    """Every page's menu lists the use cases."""
    return {"nav_use_cases": list(registry.use_cases.values())}

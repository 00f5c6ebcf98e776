"""mlapi: trained models behind a JSON API for programs and web pages for people."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from mlapi import api, auth, cli, docs, monitoring, outages, security, tracing, usage, web
from mlapi.catalog import PACKAGES, USE_CASES
from mlapi.config import PROJECT_ROOT, Config, sqlalchemy_url
from mlapi.errors import register_error_handlers
from mlapi.extensions import db
from mlapi.fastjson import OrjsonProvider
from mlapi.quotas import init_limits
from mlapi.registry import UseCaseRequest, init_registry


class MlapiFlask(Flask):
    """Flask with mlapi's request and JSON classes, asking once per hook whether it is a coroutine.

    Flask asks ``inspect.iscoroutinefunction`` of every hook and view on every request;
    a function's answer never changes, so it is remembered.
    """

    request_class = UseCaseRequest
    json_provider_class = OrjsonProvider

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_callables: dict[Callable, Callable] = {}  # hook or view -> what Flask calls for it

    def ensure_sync(self, func: Callable) -> Callable:
        runnable = self.sync_callables.get(func)
        if runnable is None:
            runnable = self.sync_callables[func] = super().ensure_sync(func)
        return runnable


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, error handlers, loaded models."""
    app = MlapiFlask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                     static_folder=str(PROJECT_ROOT / "static"))
    app.config.from_object(Config)
    app.config.from_prefixed_env("MLAPI")
    if config:
        app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(str(app.config["DATABASE_URL"]))
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS",
                          outages.postgres_options(app.config["SQLALCHEMY_DATABASE_URI"]))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    configure_logging(app.config["LOG_LEVEL"])

    db.init_app(app)
    with app.app_context():
        make_sqlite_folder(app.config["SQLALCHEMY_DATABASE_URI"])
        db.create_all()

    tracing.init_app(app)  # request hooks run in this order: trace, cap, authenticate, limit
    outages.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    usage.init_app(app)
    init_limits(app)
    monitoring.init_app(app)
    register_error_handlers(app)
    for package in PACKAGES:
        app.register_blueprint(package.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(docs.bp)
    cli.init_app(app)
    init_registry(app, USE_CASES)

    with app.app_context():
        db.engine.dispose()  # no pooled connection may cross a gunicorn fork
    return app


def configure_logging(level: str) -> None:
    """mlapi's log lines go to stdout."""
    logger = logging.getLogger("mlapi")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(tracing.LineFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)


def make_sqlite_folder(url: str) -> None:
    """Create the folder of an SQLite database file, so the default works on a clean clone."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)

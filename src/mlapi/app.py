"""The app factory: config, extensions, the request path, blueprints, error handlers, loaded models."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from mlapi import catalog, cli, request_path
from mlapi.access import cors, key_usage, keys, rate_limits
from mlapi.alerts import evaluator as alerts
from mlapi.alerts import routes as alert_routes
from mlapi.api import docs
from mlapi.api import routes as api
from mlapi.config import Config, sqlalchemy_url
from mlapi.errors import register_error_handlers
from mlapi.observability import access_log, prediction_log
from mlapi.quality import routes as quality
from mlapi.request_path import MlapiRequest
from mlapi.server import http_guards
from mlapi.server.json_provider import OrjsonProvider
from mlapi.serving.registry import init_registry
from mlapi.storage import outages
from mlapi.storage.database import create_tables, db
from mlapi.usecase import UseCase
from mlapi.web import classroom, i18n
from mlapi.web import routes as web


class MlapiFlask(Flask):
    """Flask with mlapi's request and JSON classes, asking once per hook whether it is a coroutine.

    Flask asks ``inspect.iscoroutinefunction`` of every hook and view on every request;
    a function's answer never changes, so it is remembered.
    """

    request_class = MlapiRequest
    json_provider_class = OrjsonProvider

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_callables: dict[Callable, Callable] = {}  # hook or view -> what Flask calls for it

    def ensure_sync(self, func: Callable) -> Callable:
        runnable = self.sync_callables.get(func)
        if runnable is None:
            runnable = self.sync_callables[func] = super().ensure_sync(func)
        return runnable


def create_app(config: dict[str, Any] | None = None, use_cases: Iterable[UseCase] | None = None) -> Flask:
    """Build the app: config, extensions, the request path, blueprints, error handlers, loaded models.

    ``use_cases`` defaults to :data:`mlapi.catalog.USE_CASES`.
    """
    app = MlapiFlask(__name__, template_folder="web/templates", static_folder="web/static")
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
        create_tables()

    outages.init_app(app)
    access_log.init_app(app)
    http_guards.init_app(app)
    keys.init_app(app)
    key_usage.init_app(app)
    rate_limits.init_app(app)
    prediction_log.init_app(app)
    alerts.init_app(app)
    cors.init_app(app)
    request_path.install(app)
    register_error_handlers(app)
    use_cases = tuple(catalog.USE_CASES if use_cases is None else use_cases)
    for use_case in use_cases:
        app.register_blueprint(use_case.blueprint)
    app.register_blueprint(api.bp)
    app.register_blueprint(quality.bp)
    app.register_blueprint(alert_routes.bp)
    app.register_blueprint(web.bp)
    classroom.init_app(app)
    app.register_blueprint(docs.bp)
    i18n.init_app(app)
    cli.init_app(app)
    init_registry(app, use_cases)

    with app.app_context():
        db.engine.dispose()  # no pooled connection may cross a gunicorn fork
    return app


def configure_logging(level: str) -> None:
    """mlapi's log lines go to stdout."""
    logger = logging.getLogger("mlapi")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(access_log.LineFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)


def make_sqlite_folder(url: str) -> None:
    """Create the folder of an SQLite database file, so the default works on a clean clone."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)

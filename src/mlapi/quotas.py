"""Rate limits with flask-limiter: per key (per IP for anonymous callers), one counter across all routes.

The storage is shared by every worker: SQLite on one machine by default
(:mod:`mlapi.sqlite_limits`), Redis across instances (``MLAPI_RATELIMIT_STORAGE=redis://...``).
A batch costs as many units as it has items. If the storage is down, requests
are still answered (fail open): each failure is logged and counted.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter

import mlapi.sqlite_limits  # noqa: F401  (registers the mlapi+sqlite storage scheme)
from mlapi.auth import ANONYMOUS
from mlapi.registry import requested_use_case

log = logging.getLogger(__name__)
UNLIMITED_ENDPOINTS = {"api.health", "web.metrics_text", "web.monitor", "web.monitor_panel"}  # probes, the live view
MAX_COST = 1000  # a larger batch is refused by its schema anyway


class StorageFailures(logging.Handler):
    """Counts the storage errors flask-limiter logs as it fails open (in this process)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def counting_logger(failures: StorageFailures) -> logging.Logger:
    """A logger of this app's own (not shared through ``getLogger``) that counts failures.

    Its records still reach mlapi's log through its parent.
    """
    logger = logging.Logger(f"{__name__}.limiter")
    logger.parent = log
    logger.addHandler(failures)
    return logger


def storage_problem(app: Flask) -> str | None:
    """Why limits are not being enforced right now, or None when the storage answers."""
    limiter = app.extensions["quotas"]
    if not limiter.enabled or limiter.storage.check():
        return None
    failures = app.extensions["quota_failures"].count
    return f"rate-limit storage unreachable: requests are answered without limits ({failures} so far in this worker)"


def caller_identity() -> str:
    """The counter a request hits: its key's name, or its client IP when anonymous."""
    caller = g.get("caller", ANONYMOUS)
    return f"key:{caller.name}" if caller.name else f"ip:{request.remote_addr}"


def caller_limit() -> str:
    """The key's own limit if it has one, else the default for its tier."""
    caller = g.get("caller", ANONYMOUS)
    if caller.rate_limit:
        return caller.rate_limit
    return current_app.config["RATELIMIT_ANONYMOUS" if caller.name is None else "RATELIMIT_CLIENT"]


def batch_cost() -> int:
    """How many units this request costs: the number of items in a batch, else 1."""
    use_case = requested_use_case()
    batch_field = getattr(use_case.request_schema, "batch", None) if use_case else None
    if batch_field is None or not request.is_json:
        return 1
    try:
        body = request.get_json(silent=True)
    except Exception:  # noqa: BLE001 - too large or too deep: the view answers 413 or 400, this costs 1
        return 1
    items = body.get(batch_field) if isinstance(body, dict) else None
    return min(len(items), MAX_COST) if isinstance(items, list) and items else 1


def unlimited() -> bool:
    return request.endpoint in UNLIMITED_ENDPOINTS


def retry_after_only_when_limited(response: Response) -> Response:
    """flask-limiter adds Retry-After to every response; it means something only on a 429."""
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def init_limits(app: Flask) -> Limiter:
    """A limiter for ``app`` (its storage and counters belong to this app alone)."""
    limiter = Limiter(
        caller_identity,
        application_limits=[caller_limit],
        application_limits_cost=batch_cost,
        storage_uri=app.config["RATELIMIT_STORAGE"],
        key_prefix=app.config["RATELIMIT_KEY_PREFIX"],
        strategy="fixed-window",
        headers_enabled=True,
        swallow_errors=True,
    )
    failures = StorageFailures()
    limiter.logger = counting_logger(failures)
    limiter.request_filter(unlimited)
    app.after_request(retry_after_only_when_limited)  # registered first, so it runs after the limiter's
    limiter.init_app(app)
    app.extensions["quotas"] = limiter
    app.extensions["quota_failures"] = failures
    return limiter

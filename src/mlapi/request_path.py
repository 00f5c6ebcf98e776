"""Every request's path through the app: the hooks, in the order they run, in one place.

    before the view  start_request     request id and clock              observability.access_log
                     start_sync        this worker's version sync loop   serving.registry
                     cap_body          the route's body limit (413)      server.http_guards
                     authenticate      the caller, the route's role      access.keys
                     enforce_limit     the caller's rate limit (429)     access.rate_limits
    the view         a page, or serving.prediction.predict for POST /api/v1/<name>
    after the view   record            metrics and the prediction log    observability.prediction_log
                     add_rate_headers  X-RateLimit-*, Retry-After        access.rate_limits
                     add_security_headers  CSP, nosniff, ...             server.http_guards
                     finish_request    X-Request-ID, the access log line observability.access_log

What a request carries between them is ``request.state`` (:class:`mlapi.request_state.RequestState`).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response

from mlapi.access.keys import authenticate
from mlapi.access.rate_limits import add_rate_headers, enforce_limit
from mlapi.observability.access_log import finish_request, start_request
from mlapi.observability.prediction_log import record
from mlapi.server.http_guards import add_security_headers, cap_body
from mlapi.serving.registry import start_sync

BEFORE: tuple[Callable[[], None], ...] = (start_request, start_sync, cap_body, authenticate, enforce_limit)
AFTER: tuple[Callable[[Response], Response], ...] = (record, add_rate_headers, add_security_headers, finish_request)


def install(app: Flask) -> None:
    """Register the hooks on ``app`` so they run in the order above (``record`` only with monitoring on)."""
    for hook in BEFORE:
        app.before_request(hook)
    for hook in reversed(AFTER):  # Flask runs after_request hooks last registered first
        if hook is not record or app.config["MONITORING_ENABLED"]:
            app.after_request(hook)

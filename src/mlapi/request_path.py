"""Every request's path through the app: the hooks, in the order they run, in one place.

    before the view  start_request     request id and clock              observability.access_log
                     start_sync        this worker's version sync loop   serving.registry
                     start_alerts      this worker's alert loop          alerts.evaluator
                     cap_body          the route's body limit (413)      server.http_guards
                     authenticate      the caller, the route's role      access.keys
                     enforce_limit     the caller's request limit (429)  access.rate_limits
    the view         a page, or serving.prediction.predict for POST /api/v1/<name>, which charges
                     the items (and, for the API, the request) once the body is valid
    after the view   add_cors_headers  CORS, cross-origin /api/ calls    access.cors
                     record            metrics and the prediction log    observability.prediction_log
                     add_rate_headers  X-RateLimit-*, Retry-After        access.rate_limits
                     vary_by_language  Vary: Accept-Language, Cookie     web.i18n (pages only)
                     add_security_headers  CSP, nosniff, ...             server.http_guards
                     finish_request    X-Request-ID, the access log line observability.access_log

What a request carries between them is ``request.state``, a :class:`RequestState`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response
from werkzeug.utils import cached_property

from mlapi import extensions
from mlapi.access.cors import add_cors_headers
from mlapi.access.keys import ANONYMOUS, Caller, authenticate
from mlapi.access.rate_limits import add_rate_headers, enforce_limit
from mlapi.alerts.evaluator import start_alerts
from mlapi.observability.access_log import finish_request, start_request
from mlapi.observability.prediction_log import record
from mlapi.server.http_guards import add_security_headers, cap_body
from mlapi.serving.registry import start_sync
from mlapi.web.i18n import vary_by_language

if TYPE_CHECKING:
    from mlapi.access.rate_limits import Window
    from mlapi.usecase import UseCase


@dataclass(slots=True)
class RequestState:
    """Each field is written by one step of the request path (:mod:`mlapi.request_path`) and read by later ones."""

    request_id: str = ""  # start_request: the client's X-Request-ID, or a new one
    started: float = 0.0  # start_request: time.perf_counter() as the request began
    caller: Caller = ANONYMOUS  # authenticate: the key's name and role
    window_counted: bool = False  # enforce_limit: whether the rate limit has counted this request
    window: Window | None = None  # enforce_limit: where the request left its caller's window, if limits apply
    items_window: Window | None = None  # predict (charge_items): where a prediction left its caller's item window
    predicting: str | None = None  # predict: the use case asked, once the body reached validation
    model: dict[str, str] | None = None  # predict: the name and version that answered
    results: list[dict[str, Any]] = field(default_factory=list)  # predict: one result per item


class MlapiRequest(Request):
    """Flask's request with its :class:`RequestState` and the use case its route belongs to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = RequestState()

    @cached_property
    def use_case(self) -> UseCase | None:
        """The use case whose route this request matched (its blueprint), or None.

        Routing happens as the request starts, before any hook or view can ask.
        """
        return extensions.registry().use_cases.get(self.blueprint or "")


BEFORE: tuple[Callable[[], None], ...] = (start_request, start_sync, start_alerts, cap_body, authenticate,
                                          enforce_limit)
AFTER: tuple[Callable[[Response], Response], ...] = (add_cors_headers, record, add_rate_headers, vary_by_language,
                                                     add_security_headers, finish_request)


def install(app: Flask) -> None:
    """Register the hooks on ``app`` so they run in the order above (``record`` only with monitoring on,
    ``add_cors_headers`` only when ``MLAPI_CORS_ORIGINS`` names an origin)."""
    left_out = {record} if not app.config["MONITORING_ENABLED"] else set()
    left_out |= {add_cors_headers} if extensions.cors(app) is None else set()
    for hook in BEFORE:
        app.before_request(hook)
    for hook in reversed(AFTER):  # Flask runs after_request hooks last registered first
        if hook not in left_out:
            app.after_request(hook)

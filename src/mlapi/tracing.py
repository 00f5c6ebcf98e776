"""Request ids and one log line per request (never the payload: it may be personal data)."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("mlapi.requests")

# A client's own id is echoed back only if it is short and plain.
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def start_request() -> None:
    """Adopt the client's X-Request-ID or make one, and start the clock."""
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
    g.started = time.perf_counter()


def finish_request(response: Response) -> Response:
    """Echo the request id and log the request in one line."""
    response.headers["X-Request-ID"] = g.get("request_id", "")
    ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    model = g.get("model")
    log.info(
        "request_id=%s method=%s path=%s status=%d ms=%.1f model=%s version=%s",
        g.get("request_id"), request.method, request.path, response.status_code, ms,
        model["name"] if model else "-", model["version"] if model else "-",
    )
    return response


def init_app(app: Flask) -> None:
    """Register the hooks on ``app``."""
    app.before_request(start_request)
    app.after_request(finish_request)

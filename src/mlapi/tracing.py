"""Request ids and one log line per request (never the payload: it may be personal data)."""
from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask, Response, g, request

log = logging.getLogger("mlapi.requests")
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REQUEST_LINE = "request_id=%s key=%s use_case=%s version=%s status=%d ms=%.1f method=%s path=%s"

# A client's own id is echoed back only if it is short and plain.
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class LineFormatter(logging.Formatter):
    """The standard line format, with the timestamp's text made once a second rather than once a line."""

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT)
        self.second, self.stamp = -1, ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        second = int(record.created)
        if second != self.second:  # the handler's lock keeps threads from formatting at once
            self.second, self.stamp = second, time.strftime(self.default_time_format, self.converter(second))
        return self.default_msec_format % (self.stamp, record.msecs)


def start_request() -> None:
    """Adopt the client's X-Request-ID or make one (128 random bits in hex), and start the clock."""
    state = g._get_current_object()  # one proxy lookup, not one per attribute
    given = request.headers.get("X-Request-ID", "")
    state.request_id = given if CLIENT_ID.fullmatch(given) else secrets.token_hex(16)
    state.started = time.perf_counter()


def finish_request(response: Response) -> Response:
    """Echo the request id and log the request in one line."""
    state = g._get_current_object()
    response.headers["X-Request-ID"] = state.get("request_id", "")
    if not log.isEnabledFor(logging.INFO):
        return response
    req = request._get_current_object()
    ms = (time.perf_counter() - state.get("started", time.perf_counter())) * 1000
    model, caller, use_case = state.get("model"), state.get("caller"), req.use_case
    arguments = (
        state.get("request_id"), (caller.name if caller else None) or "anonymous", use_case.name if use_case else "-",
        model["version"] if model else "-", response.status_code, ms, req.method, req.path,
    )
    # log.info() would first look up its caller's file and line (a walk of the stack); the line
    # names neither, so the record is made with this module as its place (a third of the log's cost).
    log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, REQUEST_LINE, arguments, None))
    return response


def init_app(app: Flask) -> None:
    """Register the hooks on ``app``."""
    app.before_request(start_request)
    app.after_request(finish_request)

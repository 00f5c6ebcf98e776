"""Request ids and one log line per request (never the payload: it may be personal data).

No client can forge a log line: every line escapes control characters (a path or a message
with ``%0a`` in it stays on its line, as ``\x0a``), the request line writes the path
percent-encoded as it travels, and a traceback's lines are indented under their record.

The lines are buffered, like nginx's ``access_log ... buffer= flush=``: a request only
appends its line's values, and a background loop per worker hands a second's lines to
``logging`` together, each with the time its request finished. Written inside the request,
a line costs several times what it costs in a loop, since the logging code has left the CPU's
caches by then (docs/performance.md). ``logging.handlers``' QueueHandler
and MemoryHandler would still make and format the record, most of that cost, inside the
request. A worker that stops writes what it holds; one that is killed loses at most its
last second of lines.
"""
from __future__ import annotations

import logging
import re
import secrets
import time
from urllib.parse import quote

from flask import Flask, Response, request

from mlapi import extensions
from mlapi.storage.background import Buffer

log = logging.getLogger("mlapi.requests")
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REQUEST_LINE = "request_id=%s key=%s use_case=%s version=%s status=%d ms=%.1f method=%s path=%s"

# A client's own id is echoed back only if it is short and plain.
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# C0 and C1 controls, DEL and the Unicode line and paragraph separators, written as \xNN or \uNNNN.
CONTROLS = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]} | {
    0x2028: "\\u2028", 0x2029: "\\u2029"}
PATH_SAFE = "/:@!$&'()*+,;=-._~"  # what a path may hold unencoded (RFC 3986)


def escape_controls(text: str) -> str:
    """``text`` with every control character escaped, so it cannot start or break a log line."""
    return text.translate(CONTROLS)


class LineFormatter(logging.Formatter):
    """The standard line format, with the timestamp's text made once a second rather than once a line."""

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT)
        self.second, self.stamp = -1, ""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        """The traceback with its control characters escaped, each of its lines indented under the record."""
        lines = super().formatException(ei).split("\n")
        return "\n".join(f"    {escape_controls(line)}" for line in lines)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return "\n".join(f"    {escape_controls(line)}" for line in stack_info.split("\n"))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        second = int(record.created)
        if second != self.second:  # the handler's lock keeps threads from formatting at once
            self.second, self.stamp = second, time.strftime(self.default_time_format, self.converter(second))
        return self.default_msec_format % (self.stamp, record.msecs)


class AccessLog(Buffer[list]):
    """This process's request log lines not yet written; :meth:`flush` writes them."""

    def __init__(self, seconds: float) -> None:
        super().__init__("mlapi-access-log", seconds)

    def empty(self) -> list[tuple[float, tuple]]:
        return []

    def add(self, arguments: tuple) -> None:
        """Hold one line's values (``REQUEST_LINE``'s), stamped now."""
        self.loop.ensure_started()
        with self.lock:
            self.pending.append((time.time(), arguments))

    def write(self, lines: list[tuple[float, tuple]]) -> None:
        """Log the held lines, in order, each at its own time."""
        for created, arguments in lines:
            log.handle(logging.makeLogRecord({
                "name": log.name, "levelno": logging.INFO, "levelname": "INFO", "pathname": __file__,
                "msg": REQUEST_LINE, "args": arguments,
                "created": created, "msecs": int((created - int(created)) * 1000) + 0.0,  # as LogRecord makes it
            }))


def start_request() -> None:
    """Adopt the client's X-Request-ID or make one (128 random bits in hex), and start the clock."""
    req = request._get_current_object()  # one proxy lookup, not one per attribute
    state = req.state
    # The WSGI name of X-Request-ID: request.headers would raise and catch a KeyError when it is absent.
    given = req.environ.get("HTTP_X_REQUEST_ID", "")
    state.request_id = given if CLIENT_ID.fullmatch(given) else secrets.token_hex(16)
    state.started = time.perf_counter()


def finish_request(response: Response) -> Response:
    """Echo the request id and queue the request's log line."""
    req = request._get_current_object()
    state = req.state
    response.headers.add("X-Request-ID", state.request_id)  # only this hook sets it
    if not log.isEnabledFor(logging.INFO):
        return response
    ms = (time.perf_counter() - (state.started or time.perf_counter())) * 1000
    model, use_case = state.model, req.use_case
    extensions.access_log().add((
        state.request_id, state.caller.name or "anonymous", use_case.name if use_case else "-",
        model["version"] if model else "-", response.status_code, ms, req.method, quote(req.path, safe=PATH_SAFE),
    ))
    return response


def init_app(app: Flask) -> None:
    """The app's access log (its hooks are in :mod:`mlapi.request_path`)."""
    extensions.access_log.install(app, AccessLog(app.config["REQUEST_LOG_FLUSH_SECONDS"]))

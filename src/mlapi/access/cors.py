"""Cross-origin calls to the API from browsers (CORS), answered by flask-cors.

``MLAPI_CORS_ORIGINS`` lists the origins whose pages may call ``/api/`` (empty, the default: none, the
browser's same-origin rule alone). An origin listed by name may send a key (``Authorization``,
``X-API-Key``); ``*`` lets every other origin call anonymously only: ``Access-Control-Allow-Origin: *``,
and a preflight that does not allow the key headers, so a browser refuses to send a key from there.
Never ``Access-Control-Allow-Credentials``: the API takes keys, not cookies. Answers under ``/api/``
(errors included) expose the request id and rate-limit headers to scripts; pages, static files and
``/metrics`` never carry CORS headers. A preflight (``OPTIONS`` with ``Access-Control-Request-Method``)
skips the key and the limit (:func:`is_preflight`, asked by ``access.keys`` and ``access.rate_limits``).

Why flask-cors is not simply ``CORS(app, ...)``:

1. It picks its options by path, never by origin, so one configuration cannot allow the key headers to
   the listed origins and refuse them to those that only ``*`` admits. mlapi makes two flask-cors
   configurations, one per kind of origin, and :class:`Cors` picks one per request by its ``Origin``.
2. Its hook runs on every response: it matches the path and reads the headers even when there is no
   ``Origin``, a cost paid by every answer for nothing (docs/performance.md). :class:`Cors`
   first looks for an ``Origin`` other than the server's own in the WSGI environ, so curl, same-origin
   pages and every call when the setting is empty (then no hook at all) pay nothing measurable.

So each configuration is given to flask-cors on a blueprint that is never registered
(``CORS(blueprint, ...)``, which flask-cors supports), and :class:`Cors` calls the hook it made there.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, Request, Response, request
from flask_cors import CORS

from mlapi import extensions

API_PATHS = r"/api/.*"
ALLOW_HEADERS = ["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"]
ANONYMOUS_ALLOW_HEADERS = ["Content-Type", "X-Request-ID"]  # "*" admits no key
METHODS = ["GET", "HEAD", "POST", "PUT"]
ANONYMOUS_METHODS = ["GET", "HEAD", "POST"]  # PUT is admin-only: it needs a key
EXPOSE_HEADERS = [
    "X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After",
    "X-RateLimit-Items-Limit", "X-RateLimit-Items-Remaining", "X-RateLimit-Items-Reset", "X-RateLimit-Nearest",
]
MAX_AGE = 600  # seconds a browser may reuse a preflight's answer: a changed setting reaches it within 10 minutes
KEY_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_X_API_KEY")

ORIGIN = re.compile(r"(https?)://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(\d{1,5}))?", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}
SEPARATORS = re.compile(r"[\s,]+")


def is_preflight(req: Request) -> bool:
    """A browser's CORS preflight: ``OPTIONS`` with ``Access-Control-Request-Method``, answered before any key
    or limit is looked at, and never counted."""
    return req.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in req.environ


def parse_origins(setting: str | Iterable[str]) -> tuple[frozenset[str], bool]:
    """The origins ``MLAPI_CORS_ORIGINS`` names, written as browsers send them (lower case, no default port),
    and whether it holds ``*``. Origins are separated by spaces or commas; a JSON list works too.

    :raises ValueError: an entry that is not ``*`` nor ``scheme://host[:port]``; the message names the setting.
    """
    text = setting if isinstance(setting, str) else " ".join(str(entry) for entry in setting)
    listed, anyone = set(), False
    for entry in SEPARATORS.split(text.strip()):
        if entry == "*":
            anyone = True
        elif entry:
            listed.add(normal_origin(entry))
    return frozenset(listed), anyone


def normal_origin(entry: str) -> str:
    match = ORIGIN.fullmatch(entry)
    port = int(match.group(3)) if match and match.group(3) else None
    if match is None or (port is not None and not 0 < port < 65536):
        raise ValueError(
            f"MLAPI_CORS_ORIGINS: {entry!r} is not an origin. Write scheme://host[:port] with no path, not even "
            "a final '/' (e.g. http://localhost:5173 https://app.example.org), separated by spaces or commas; "
            "'*' admits every other origin, without a key.")
    scheme, host = match.group(1).lower(), match.group(2).lower()
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def flask_cors_hook(**options) -> Callable[[Response], Response]:
    """The after-request function flask-cors makes for ``options`` on ``/api/``, made on a blueprint of its own
    (never registered, and without the app's config, whose ``CORS_ORIGINS`` is mlapi's, not flask-cors's)."""
    holder = Blueprint("mlapi_cors", __name__)
    CORS(holder, resources={API_PATHS: {}}, supports_credentials=False, always_send=False, vary_header=True,
         expose_headers=EXPOSE_HEADERS, max_age=MAX_AGE, **options)
    (hook,) = holder.after_request_funcs[None]
    return hook


class Cors:
    """The after-request hook: flask-cors's answer for the request's origin, on a cross-origin call to ``/api/``."""

    def __init__(self, listed: frozenset[str], anyone: bool) -> None:
        self.listed = listed
        self.for_listed = flask_cors_hook(
            origins=[re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in sorted(listed)],
            allow_headers=ALLOW_HEADERS, methods=METHODS) if listed else None
        self.for_anyone = flask_cors_hook(
            origins="*", send_wildcard=True, allow_headers=ANONYMOUS_ALLOW_HEADERS,
            methods=ANONYMOUS_METHODS) if anyone else None

    def __call__(self, response: Response) -> Response:
        req = request._get_current_object()
        environ = req.environ
        origin = environ.get("HTTP_ORIGIN")
        if (origin is None or not req.path.startswith("/api/")
                or origin == f"{environ['wsgi.url_scheme']}://{environ.get('HTTP_HOST')}"):
            return response  # curl, same-origin pages, everything outside the API: nothing to add
        if origin.lower() in self.listed:
            response = self.for_listed(response)
        elif self.for_anyone is not None and not any(name in environ for name in KEY_HEADERS):
            response = self.for_anyone(response)
        response.vary.add("Origin")  # the CORS headers of an API answer depend on the Origin it was asked from
        return response


def add_cors_headers(response: Response) -> Response:
    """The app's :class:`Cors` hook (in the request path only when ``MLAPI_CORS_ORIGINS`` names an origin)."""
    return extensions.cors()(response)


def init_app(app: Flask) -> Cors | None:
    """Check ``MLAPI_CORS_ORIGINS`` (a malformed origin stops the start); the app's hook if it names any."""
    listed, anyone = parse_origins(app.config["CORS_ORIGINS"])
    return extensions.cors.install(app, Cors(listed, anyone) if listed or anyone else None)

"""Hardening every response and request: security headers, body caps, proxies, secrets."""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from mlapi.config import DEV_SECRET_KEY

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def add_security_headers(response: Response) -> Response:
    """Each security header the response does not set itself (one pass over its headers, not one per name)."""
    present = {name.lower() for name in response.headers.keys()}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


MULTIPART_ROOM = 1024 * 1024  # a form's other fields and boundaries, beside its file


def cap_body() -> None:
    """A use case's routes may cap bodies lower than MAX_BODY_BYTES, the ceiling for every other route but
    an upload route marked with :func:`body_cap`."""
    req = request._get_current_object()
    use_case = req.use_case
    if use_case is not None:
        req.max_content_length = min(use_case.max_body_bytes, current_app.config["MAX_BODY_BYTES"])
        return
    setting = getattr(current_app.view_functions.get(req.endpoint or ""), "body_cap_setting", None)
    if setting:
        req.max_content_length = int(current_app.config[setting]) + MULTIPART_ROOM


def body_cap(setting: str) -> Callable:
    """Mark an upload view whose body may be as large as the config ``setting`` (plus a form's fields)."""

    def mark(view: Callable) -> Callable:
        view.body_cap_setting = setting
        return view

    return mark


def read_body(req: Request) -> bytes:
    """The request's body (kept for the request), refused with 413 if a chunked one runs past the cap.

    werkzeug reads a body of no stated length only up to the cap and returns what it read
    (``LimitedStream.readall`` stops at the limit without looking further), so a longer chunked
    body would arrive cut short and fail as invalid JSON (400). A body that fills the cap
    exactly is checked for one byte more.
    """
    data = req.get_data()
    if len(data) == req.max_content_length and req.content_length is None and more_to_read(req):
        raise RequestEntityTooLarge()
    return data


def more_to_read(req: Request) -> bool:
    try:
        return bool(req.environ["wsgi.input"].read(1))
    except OSError as error:  # a client that stalled or left, reported as werkzeug's own reads report it
        raise ClientDisconnected() from error


class PageSessions(SecureCookieSessionInterface):
    """A session cookie for pages only (the forms' CSRF token, and the key a person entered).

    The API is stateless, called with keys rather than cookies, so its requests
    skip reading and signing the cookie.
    """

    def open_session(self, app: Flask, request):
        if request.path.startswith("/api/"):
            return self.null_session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure whenever the page was served over HTTPS (HttpOnly and SameSite always are)."""
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def check_secret(app: Flask) -> None:
    """Refuse to start in production with the development secret.

    :raises RuntimeError: ``MLAPI_ENV=production`` without ``MLAPI_SECRET_KEY``.
    """
    if app.config["ENV"] == "production" and app.config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise RuntimeError("MLAPI_ENV is production: set MLAPI_SECRET_KEY to a long random value.")


def init_app(app: Flask) -> None:
    check_secret(app)
    app.session_interface = PageSessions()
    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        # Never X-Forwarded-Host: the pages' commands use PUBLIC_URL or the server's own address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

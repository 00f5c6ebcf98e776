"""Errors that carry their status, and the one handler that renders every error.

Under ``/api/`` an error is RFC 9457 problem details (``application/problem+json``) with a stable
machine-readable ``code`` beside the sentence for people (``detail``), so a client never parses prose;
elsewhere it is a friendly HTML page. Neither ever shows a traceback. Both speak the reader's language
(``Accept-Language``, or the ``lang`` cookie: :mod:`mlapi.web.i18n`); ``code`` never changes with it.
"""
from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from mlapi.web.i18n import language_tag, translate
from mlapi.words import N_

log = logging.getLogger(__name__)

DETAILS = {
    400: N_("The request could not be understood."),
    404: N_("There is no such resource; check the path (the API lives under /api/v1)."),
    405: N_("This endpoint does not accept that method."),
    408: N_("The request did not arrive in time: send it again, without pausing."),
    413: N_("The request body is larger than this endpoint accepts."),
    415: N_("Send the body as JSON with 'Content-Type: application/json'."),
    429: N_("Too many requests: the limit is {limit}. Retry after the seconds in the Retry-After header."),
    500: N_("Something went wrong on our side; the request id identifies it in our logs."),
}


class MlapiError(Exception):
    """An error a client can act on; ``status`` is its HTTP status, ``code`` its name for programs (by
    default the class's name in snake case: ``ValidationFailed`` is ``validation_failed``)."""

    status = 500
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init__(self, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    @property
    def code(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


class InvalidJson(MlapiError):
    """The body is not valid JSON."""

    status = 400


class WrongContentType(MlapiError):
    """A JSON endpoint was sent another content type."""

    status = 415


class NotFound(MlapiError):
    """A named resource, such as a model, does not exist."""

    status = 404


class ValidationFailed(MlapiError):
    """Valid JSON that breaks the schema; ``errors`` lists the messages per field."""

    status = 422


class ModelUnavailable(MlapiError):
    """No loadable version of the model: not trained, or every file failed its check."""

    status = 503


def status_code(status: int) -> str:
    """The ``code`` of an error known only by its status: ``not_found``, ``too_many_requests``..."""
    return HTTPStatus(status).name.lower()


def problem(status: int, detail: str, errors: dict[str, Any] | None = None, code: str | None = None) -> Response:
    """An ``application/problem+json`` response (RFC 9457), with ``code`` (by default the status's name)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": translate(HTTPStatus(status).phrase),
        "status": status,
        "code": code or status_code(status),
        "detail": translate(detail),
    }
    if errors:
        body["errors"] = translate(errors)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.content_language.add(language_tag())
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def render_error(status: int, detail: str, errors: dict[str, Any] | None = None, code: str | None = None) -> Response:
    """Problem details under /api/, an HTML error page everywhere else."""
    if request.path == "/api" or request.path.startswith("/api/"):
        return problem(status, detail, errors, code)
    page = render_template("errors/error.html", status=status, title=HTTPStatus(status).phrase, detail=detail)
    return make_response(page, status)


def handle_mlapi_error(error: MlapiError) -> Response:
    response = render_error(error.status, error.detail, error.errors, error.code)
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    detail = DETAILS.get(status, HTTPStatus(status).description).format(limit=error.description)
    if status == 413 and request.max_content_length:
        detail = N_("The request body is larger than this endpoint accepts: at most {limit:,} bytes. Send less, or a "
                    "smaller batch.").format(limit=request.max_content_length)
    response = render_error(status, detail)
    if status == 405 and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def handle_client_disconnected(error: ClientDisconnected) -> Response:
    """The body stopped arriving: 408 if reading it timed out (the client may still read that), else a 400."""
    if isinstance(error.__context__, TimeoutError):
        return render_error(408, DETAILS[408])
    return handle_http_exception(error)


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(500, DETAILS[500])


def register_error_handlers(app: Flask) -> None:
    """Route every error, expected or not, through :func:`render_error`."""
    app.register_error_handler(MlapiError, handle_mlapi_error)
    app.register_error_handler(ClientDisconnected, handle_client_disconnected)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

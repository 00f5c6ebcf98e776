"""The pages in English and Brazilian Portuguese (Flask-Babel); the JSON API stays English.

The language is the ``lang`` cookie's (set by ``GET /lang/<en|pt-BR>``, :mod:`mlapi.web.routes`, the switch
in every page's header), else the browser's first language that the pages speak (``Accept-Language``; any
Portuguese reads pt-BR), else English. The catalogs are ``mlapi/translations``: ``make translations``
extracts the messages (babel.cfg), updates pt_BR's ``messages.po`` and compiles its ``messages.mo``.
"""
from __future__ import annotations

from flask import Flask, Response, has_request_context, request
from flask_babel import Babel, get_locale, gettext

LANGUAGES = {"en": "en", "pt-BR": "pt_BR"}  # language tag (cookie, <html lang>) -> Babel locale
COOKIE = "lang"  # set by the switch's route, web.set_language
COOKIE_SECONDS = 365 * 24 * 3600
BY_LANGUAGE = {tag.split("-")[0]: locale for tag, locale in LANGUAGES.items()}  # "pt" -> pt_BR


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a marker)
    """Mark ``message`` for the catalog without translating it: it is translated where a page shows it."""
    return message


# mlapi.errors keeps its words English (the API's); an HTML error page translates these where it shows them:
# the names of the statuses a page can end in, and the details of the errors known only by their status.
ERROR_PAGE_WORDS = (
    N_("Bad Request"), N_("Unauthorized"), N_("Forbidden"), N_("Not Found"), N_("Method Not Allowed"),
    N_("Request Timeout"), N_("Request Entity Too Large"), N_("Unprocessable Entity"), N_("Internal Server Error"),
    N_("Service Unavailable"),
    N_("The request could not be understood."),
    N_("There is no such resource; check the path (the API lives under /api/v1)."),
    N_("This endpoint does not accept that method."),
    N_("The request did not arrive in time: send it again, without pausing."),
    N_("Something went wrong on our side; the request id identifies it in our logs."),
)


def chosen_locale() -> str | None:
    """The ``lang`` cookie's locale, else the browser's best, else None (English); None outside a request."""
    if not has_request_context():
        return None
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return LANGUAGES[chosen]
    for accepted, _quality in request.accept_languages:  # the browser's first choice first
        locale = BY_LANGUAGE.get(accepted.replace("_", "-").split("-")[0].lower())
        if locale:
            return locale
    return None


def language_tag() -> str:
    """The page's language as ``<html lang>`` writes it: ``en`` or ``pt-BR``."""
    return str(get_locale() or "en").replace("_", "-")


def vary_by_language(response: Response) -> Response:
    """A page (HTML, /api/docs too) depends on the language headers: caches keep one copy per language. The API's
    answers (JSON) do not. A hook of the request path (:mod:`mlapi.request_path`)."""
    if response.mimetype == "text/html":
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def init_app(app: Flask) -> None:
    """Babel with the locale chosen as above; ``translated`` and ``language_tag`` for templates."""
    Babel(app, locale_selector=chosen_locale)
    app.jinja_env.filters["translated"] = gettext  # a message held in a variable, escaped like any other
    app.jinja_env.globals["language_tag"] = language_tag

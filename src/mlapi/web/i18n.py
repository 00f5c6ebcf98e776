"""The pages and the API's problems in English and Brazilian Portuguese (Flask-Babel).

The language is the ``lang`` cookie's (set by ``GET /lang/<en|pt-BR>``, :mod:`mlapi.web.routes`, the switch
in every page's header), else the browser's first language that the pages speak (``Accept-Language``; any
Portuguese reads pt-BR), else English. The catalogs are ``mlapi/translations``: ``make translations``
extracts the messages (babel.cfg), updates pt_BR's ``messages.po`` and compiles its ``messages.mo``.

Messages with values (``N_("No version {version}.").format(...)``, :mod:`mlapi.words`) are made in English
where they happen, deep in code that knows no reader; :func:`translate` says them in the reader's language
where they are shown (a problem's ``detail`` and ``errors``, a page), finding each by its template.
"""
from __future__ import annotations

import functools
import re
from typing import Any

from flask import Flask, Response, has_request_context, request
from flask_babel import Babel, get_locale, get_translations

from mlapi.web import numbers
from mlapi.words import N_

LANGUAGES = {"en": "en", "pt-BR": "pt_BR"}  # language tag (cookie, <html lang>) -> Babel locale
COOKIE = "lang"  # set by the switch's route, web.set_language
COOKIE_SECONDS = 365 * 24 * 3600
BY_LANGUAGE = {tag.split("-")[0]: locale for tag, locale in LANGUAGES.items()}  # "pt" -> pt_BR


# The names of the statuses a problem or an error page can have (its ``title``).
STATUS_PHRASES = (
    N_("Bad Request"), N_("Unauthorized"), N_("Forbidden"), N_("Not Found"), N_("Method Not Allowed"),
    N_("Request Timeout"), N_("Conflict"), N_("Length Required"), N_("Request Entity Too Large"),
    N_("Request-URI Too Long"), N_("Unsupported Media Type"), N_("Unprocessable Entity"), N_("Too Many Requests"),
    N_("Request Header Fields Too Large"), N_("Internal Server Error"), N_("Service Unavailable"),
)


# A template's field (``{name}``, ``{count:,}``) or an escaped brace.
FIELD = re.compile(r"\{\{|\}\}|\{(\w+)(?:![rsa])?(?::[^{}]*)?\}")
MAX_DEPTH = 3  # a message quoting a message quoting a message: deeper ones stay as they are
MAX_QUOTED = 1000  # characters: a longer value quoted in a message is a client's text, not a message of ours


class Template:
    """A catalog message with fields: finds its formatted English and says it translated.

    The English is matched by its literal pieces, in order, each found at its leftmost place after the one
    before (every field at least a character): linear in the text's length, whatever a client put in it
    (a regular expression of several lazy fields backtracks in cubic time on a crafted text).
    """

    def __init__(self, english: str, translated: str) -> None:
        self.literals, self.fields = [""], []  # literal, field, literal, ..., literal
        position = 0
        for match in FIELD.finditer(english):
            self.literals[-1] += english[position:match.start()]
            position = match.end()
            if match.group(1) is None:
                self.literals[-1] += match.group()[0]  # an escaped brace is a literal one
            else:
                self.fields.append(match.group(1))
                self.literals.append("")
        self.literals[-1] += english[position:]
        self.translated = translated
        self.words = sum(map(len, self.literals))  # the longest template that fits is the closest

    def values(self, english: str) -> dict[str, str] | None:
        """Each field's text in ``english``, if this template made it."""
        first, last = self.literals[0], self.literals[-1]
        if not english.startswith(first) or not english.endswith(last) or len(english) < len(first) + len(last):
            return None
        position, end, values = len(first), len(english) - len(last), {}
        for name, literal in zip(self.fields, [*self.literals[1:-1], None], strict=True):
            found = end if literal is None else english.find(literal, position + 1, end)
            if found < position + 1 or values.setdefault(name, english[position:found]) != english[position:found]:
                return None
            position = found + len(literal or "")
        return values

    def say(self, english: str, depth: int) -> str | None:
        """``english`` translated, if this template made it; its values translated too, when they are messages."""
        values = self.values(english)
        if values is None:
            return None
        said = {name: translated_text(value, depth + 1) for name, value in values.items()}

        def fill(field: re.Match) -> str:
            return field.group()[0] if field.group(1) is None else said.get(field.group(1), field.group())
        return FIELD.sub(fill, self.translated)


@functools.cache
def phrasebook(locale: str) -> tuple[dict[str, str], list[Template]]:
    """The locale's catalog: its messages by their English, and the templates (those with fields), closest first."""
    catalog = getattr(get_translations(), "_catalog", {})
    exact = {english: said for english, said in catalog.items() if isinstance(english, str) and english and said}
    templates = [Template(english, said) for english, said in exact.items()
                 if FIELD.search(english) and re.search(r"[A-Za-z]{3}", FIELD.sub("", english))]
    return exact, sorted(templates, key=lambda template: -template.words)


def translated_text(english: str, depth: int = 0) -> str:
    """``english`` in the reader's language: a catalog message, or one made from a catalog template."""
    locale = get_locale() if has_request_context() else None
    if locale is None or locale.language == "en" or depth > MAX_DEPTH or (depth and not is_sentence(english)):
        return english
    exact, templates = phrasebook(str(locale))
    if english in exact:
        return exact[english]
    for template in templates:
        said = template.say(english, depth)
        if said is not None:
            return said
    return english


def is_sentence(value: str) -> bool:
    """Whether a value quoted in a message may be a message itself: words, and no longer than one."""
    return " " in value and len(value) <= MAX_QUOTED


def translate(said: Any) -> Any:
    """Every message in ``said`` (a message, or a problem's ``errors``: dicts and lists of them) translated."""
    if isinstance(said, str):
        return translated_text(said)
    if isinstance(said, dict):
        return {key: translate(value) for key, value in said.items()}
    if isinstance(said, list):
        return [translate(value) for value in said]
    return said


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
    """Babel with the locale chosen as above; ``translated``, the numbers' and metrics' filters and
    ``language_tag`` for templates."""
    Babel(app, locale_selector=chosen_locale)
    app.jinja_env.filters["translated"] = translate  # a message held in a variable, escaped like any other
    app.jinja_env.filters.update(number=numbers.number, signed=numbers.signed, significant=numbers.significant,
                                 percent=numbers.percent, day=numbers.day, metric_name=numbers.metric_name)
    app.jinja_env.globals["language_tag"] = language_tag

"""What every use case's page shares: the prediction, its JSON, the curl command, and the page itself."""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext

from mlapi.errors import ValidationFailed
from mlapi.serving import prediction
from mlapi.web.i18n import translate

KEY_HEADER = '-H "Authorization: Bearer $MLAPI_KEY"'  # the shell fills in the reader's own key


def api_url(path: str) -> str:
    """``path`` on this server: under ``PUBLIC_URL`` when set, else at the address the connection came to.

    Never from the request's ``Host`` header, which a client (or a forged link) chooses: the copied
    command would send the reader's key wherever it named.
    """
    return (current_app.config["PUBLIC_URL"] or server_address()).rstrip("/") + path


def server_address() -> str:
    """The scheme, address and port this connection was accepted on (gunicorn's socket), else the WSGI server's."""
    environ = request.environ
    try:
        host, port = environ["gunicorn.socket"].getsockname()[:2]
    except (KeyError, OSError, ValueError, TypeError):
        host, port = environ.get("SERVER_NAME", "localhost"), environ.get("SERVER_PORT", "80")
    scheme = request.scheme
    host = f"[{host}]" if ":" in str(host) else host
    default = {"http": "80", "https": "443"}.get(scheme)
    return f"{scheme}://{host}" + ("" if str(port) == default else f":{port}")


def key_line(needs_key: bool = False) -> list[str]:
    """The curl line that sends the reader's key: for an admin endpoint, or when this page is used with a key;
    none otherwise (a command with an empty key would be a 401)."""
    return [KEY_HEADER] if needs_key or request.state.caller.name else []


def curl_command(path: str, payload: Any, method: str = "POST", needs_key: bool = False) -> str:
    """A curl command that sends ``payload`` to ``path`` on this server (with the reader's key if they use one)."""
    body = shlex.quote(json.dumps(payload, ensure_ascii=False))
    lines = [f"curl -s -X {method} {api_url(path)}", *key_line(needs_key), "-H 'Content-Type: application/json'",
             f"-d {body}"]
    return " \\\n  ".join(lines)


def curl_get(path: str, needs_key: bool = False) -> str:
    """A curl command that reads ``path`` (a path with its query string), with the reader's key if they use one."""
    return " \\\n  ".join([f"curl -s {shlex.quote(api_url(path))}", *key_line(needs_key)])


def pretty_json(data: Any) -> str:
    """``data`` as the API sends it, indented for people."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def error_lines(errors: dict[str, Any] | None, prefix: str = "") -> list[str]:
    """Nested validation errors as lines a person reads: ``transaction.Amount: Must be a number.``"""
    lines = []
    for field, messages in (errors or {}).items():
        name = f"{prefix}{field}" if field != "_schema" else prefix.rstrip(".")
        if isinstance(messages, dict):
            lines += error_lines(messages, f"{name}.")
        else:
            lines += [f"{name}: {message}" if name else message for message in messages]
    return lines


@dataclass(frozen=True)
class PagePrediction:
    """What a use case's page shows of one prediction: the API's answer, or its validation errors."""

    result: dict[str, Any] | None = None
    errors: dict[str, Any] | None = None
    status: int = 200

    @property
    def result_json(self) -> str | None:
        return pretty_json(self.result) if self.result else None


def page_prediction(name: str, payload: Any, wanted: bool) -> PagePrediction:
    """The API's answer for ``payload``, or the validation errors (in the page's language), with the status.

    Nothing is predicted unless ``wanted`` (the form was submitted).
    """
    if not wanted:
        return PagePrediction()
    try:
        return PagePrediction(prediction.predict(name, payload))
    except ValidationFailed as failed:
        return PagePrediction(None, translate(failed.errors), failed.status)


def render_page(shown: PagePrediction, curl: str, **context: Any) -> tuple[str, int]:
    """The use case's ``<name>/page.html`` with the prediction, its JSON and the curl command (``context`` wins)."""
    name = request.use_case.name
    common = {"result": shown.result, "errors": shown.errors, "result_json": shown.result_json, "curl": curl}
    return render_template(f"{name}/page.html", **(common | context)), shown.status


def json_form_page() -> tuple[str, int]:
    """The page of a use case without one of its own: its example as JSON to edit and send."""
    use_case = request.use_case
    text = request.form.get("body", "") if request.method == "POST" else pretty_json(use_case.example)
    try:
        payload, unreadable = json.loads(text), None
    except (ValueError, RecursionError) as error:
        payload, unreadable = None, {"body": [gettext("Not valid JSON: %(error)s.", error=error)]}
    shown = page_prediction(use_case.name, payload, request.method == "POST" and not unreadable)
    errors = unreadable or shown.errors
    return render_template("use_case_page.html", use_case=use_case, body=text, result=shown.result,
                           problems=error_lines(errors), result_json=shown.result_json,
                           curl=curl_command(use_case.api_path, payload if payload is not None else use_case.example),
                           ), 422 if unreadable else shown.status

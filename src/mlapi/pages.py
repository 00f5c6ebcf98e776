"""What every use-case page shows besides the result: the JSON and the curl command."""
from __future__ import annotations

import json
import shlex
from typing import Any

from flask import current_app, request

from mlapi import service
from mlapi.errors import ValidationFailed

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


def curl_command(path: str, payload: Any, method: str = "POST") -> str:
    """A curl command that sends ``payload`` to ``path`` on this server with the reader's key, ready to paste."""
    body = shlex.quote(json.dumps(payload, ensure_ascii=False))
    return (f"curl -s -X {method} {api_url(path)} \\\n  {KEY_HEADER} \\\n"
            f"  -H 'Content-Type: application/json' \\\n  -d {body}")


def curl_get(path: str) -> str:
    """A curl command that reads ``path`` (a path with its query string) with the reader's key."""
    return f"curl -s {shlex.quote(api_url(path))} \\\n  {KEY_HEADER}"


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


def page_prediction(name: str, payload: Any, wanted: bool) -> tuple[dict | None, dict | None, int]:
    """What a page shows for ``payload``: the API's answer or the validation errors, and the status.

    Nothing is predicted unless ``wanted`` (the form was submitted).
    """
    if not wanted:
        return None, None, 200
    try:
        return service.predict(name, payload), None, 200
    except ValidationFailed as failed:
        return None, failed.errors, failed.status

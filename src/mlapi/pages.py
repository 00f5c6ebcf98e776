"""What every use-case page shows besides the result: the JSON and the curl command."""
from __future__ import annotations

import json
import shlex
from typing import Any

from flask import request

from mlapi import service
from mlapi.errors import ValidationFailed

KEY_HEADER = '-H "Authorization: Bearer $MLAPI_KEY"'  # the shell fills in the reader's own key


def api_url(path: str) -> str:
    """``path`` on this server, as the reader reaches it."""
    return request.host_url.rstrip("/") + path


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

"""Cross-origin calls to the API from browsers (CORS)."""
from __future__ import annotations

from flask import Request


def is_preflight(req: Request) -> bool:
    """A browser's CORS preflight: ``OPTIONS`` with ``Access-Control-Request-Method``, answered before any key
    or limit is looked at, and never counted."""
    return req.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in req.environ

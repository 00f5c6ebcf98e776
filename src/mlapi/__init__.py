"""mlapi: trained models behind a JSON API for programs and web pages for people.

The app is built by :func:`mlapi.app.create_app`; importing ``mlapi`` alone loads nothing else, so a
process that needs one use case (the check of a published model) does not pay for the whole app.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    """Build the app: see :func:`mlapi.app.create_app` (``flask --app mlapi`` and ``wsgi.py`` call this)."""
    from mlapi.app import create_app as build

    return build(*args, **kwargs)

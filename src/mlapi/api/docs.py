"""GET /api/openapi.json, the interactive documentation at /api/docs (Swagger UI, served by the app) and /docs."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from swagger_ui_bundle import swagger_ui_path

from mlapi.api.openapi import documented, openapi_document
from mlapi.web.rendering import curl_get

# Swagger UI's files come from the swagger-ui-bundle-v2 package installed from PyPI, never from a CDN.
# It runs under the app's strict Content-Security-Policy unchanged (tests/test_browser.py checks).
bp = Blueprint("docs", __name__, static_folder=str(swagger_ui_path), static_url_path="/docs/swagger-ui")


@bp.get("/api/openapi.json")
@documented("This OpenAPI document")
def openapi_json():
    """Every endpoint, its request and response schemas, examples and errors, as OpenAPI 3.1."""
    return jsonify(openapi_document(current_app))


@bp.get("/api/docs")
@documented("Interactive documentation (HTML)", media_type="text/html")
def swagger_ui():
    """The OpenAPI document as a page where each endpoint can be tried."""
    return render_template("docs.html", curl=curl_get("/api/openapi.json"))


@bp.get("/docs")
def docs_page():
    """The documentation page of the site's menu is the interactive one."""
    return redirect(url_for("docs.swagger_ui"))

"""Hardening: security headers everywhere, body caps per endpoint, secrets, proxies."""
import pytest
from flask import Response

from mlapi import create_app
from mlapi.server.http_guards import SECURITY_HEADERS, add_security_headers


@pytest.mark.parametrize("path", ["/", "/sentiment", "/api/v1/health", "/api/v1/nothing", "/static/css/mlapi.css"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_a_header_the_response_sets_itself_is_kept_once():
    response = add_security_headers(Response(headers={"x-frame-options": "SAMEORIGIN"}))
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert all(response.headers[name] == value for name, value in SECURITY_HEADERS.items() if name != "X-Frame-Options")


def test_pages_have_no_inline_script(client):
    for page in (client.get("/"), client.get("/sentiment"), client.get("/recommend")):
        markup = page.get_data(as_text=True)
        assert "<script>" not in markup and " onclick=" not in markup and " style=" not in markup


def test_each_use_case_caps_its_own_body(client):
    big_ratings = {"liked": [770828] * 40_000}  # about 320 KB: over recommend's 256 KiB
    assert client.post("/api/v1/recommend", json=big_ratings).status_code == 413
    assert client.post("/api/v1/sentiment", json={"text": "x" * 5000}).status_code == 200


def test_production_refuses_the_development_secret(tmp_path):
    settings = {"ENV": "production", "ARTIFACTS_DIR": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}",
                "RATELIMIT_STORAGE": "memory://"}
    with pytest.raises(RuntimeError, match="MLAPI_SECRET_KEY"):
        create_app(settings)
    assert create_app({**settings, "SECRET_KEY": "a-long-random-value-from-the-environment"})


def test_trusted_proxy_sets_the_client_ip_for_limits(make_app):
    client = make_app(TRUSTED_PROXIES=1, RATELIMIT_ANONYMOUS="1/minute").test_client()
    first = {"X-Forwarded-For": "203.0.113.7"}
    assert client.post("/api/v1/sentiment", json={"text": "a"}, headers=first).status_code == 200
    assert client.post("/api/v1/sentiment", json={"text": "a"}, headers=first).status_code == 429
    other = {"X-Forwarded-For": "203.0.113.8"}
    assert client.post("/api/v1/sentiment", json={"text": "a"}, headers=other).status_code == 200


def test_the_api_is_stateless_no_session_cookie(client):
    response = client.post("/api/v1/sentiment", json={"text": "Nice crew"})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    page = client.get("/models")  # pages still get the session that carries the CSRF token
    assert "session=" in page.headers.get("Set-Cookie", "")

"""Every error status of API.md as problem+json under /api, friendly HTML elsewhere, never a traceback."""
import pytest

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    assert response.headers["X-Request-ID"]
    return body


def test_invalid_json_is_400(client):
    response = client.post("/api/v1/sentiment", data='{"text": "hi",', content_type="application/json")
    assert "not valid JSON" in assert_problem(response, 400)["detail"]


def test_json_nested_too_deeply_is_400(client):
    response = client.post("/api/v1/sentiment", data="[" * 100_000, content_type="application/json")
    assert "nested too deeply" in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/nothing", "/api"])
def test_unknown_api_route_is_json_404(client, path):
    assert_problem(client.get(path), 404)


def test_wrong_method_is_405_with_allow(client):
    response = client.get("/api/v1/sentiment")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_body_over_the_cap_is_413(make_app):
    client = make_app(MAX_BODY_BYTES=100).test_client()
    assert_problem(client.post("/api/v1/sentiment", json={"text": "x" * 200}), 413)


def test_other_content_type_is_415(client):
    assert_problem(client.post("/api/v1/sentiment", data="text=hello", content_type="text/plain"), 415)


def test_schema_error_is_422_with_errors_per_field(client):
    body = assert_problem(client.post("/api/v1/sentiment", json={"text": ""}), 422)
    assert "text" in body["errors"]
    assert "text" in body["detail"]


def test_unexpected_error_is_500_without_internals(make_app, caplog):
    app = make_app()

    @app.get("/api/v1/explode")
    def explode():
        raise RuntimeError("secret internal detail /srv/mlapi/model.joblib")

    response = app.test_client().get("/api/v1/explode")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert "request id" in body["detail"]
    assert "secret internal detail" in caplog.text  # logged on our side only


def test_no_model_is_503(make_app, tmp_path):
    client = make_app(ARTIFACTS_DIR=tmp_path / "empty").test_client()
    assert_problem(client.post("/api/v1/sentiment", json={"text": "hello"}), 503)


def test_pages_get_html_errors(make_app):
    app = make_app()

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret")

    client = app.test_client()
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "Not Found" in missing.get_data(as_text=True)
    broken = client.get("/explode")
    assert broken.status_code == 500 and broken.mimetype == "text/html"
    assert "secret" not in broken.get_data(as_text=True)


def test_request_id_is_echoed_or_made(client):
    assert client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/api/v1/health", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert made != "<script>" and len(made) == 32
    assert client.get("/no-such-page").headers["X-Request-ID"]


@pytest.mark.parametrize("path, body, field, hint", [
    ("/api/v1/sentiment", {"tweet": "Lovely crew"}, "tweet", "did you mean 'text'?"),
    ("/api/v1/xray", {"img": "iVBORw0KGgo="}, "img", "did you mean 'image'?"),
    ("/api/v1/fraud", {"txn": {}}, "txn", "this endpoint takes 'transaction', 'transactions'."),
])
def test_an_unknown_field_names_the_field_to_send_instead(client, path, body, field, hint):
    response = client.post(path, json=body)
    assert response.status_code == 422 and response.get_json()["errors"][field] == [f"Unknown field; {hint}"]


def test_a_raw_image_is_told_how_to_send_a_file(client):
    response = client.post("/api/v1/xray", data=b"\x89PNG\r\n", headers={"Content-Type": "image/png"})
    assert response.status_code == 415 and "-F image=@" in response.get_json()["detail"]


def test_a_body_too_large_states_the_limit(client):
    response = client.post("/api/v1/recommend", data=b"{" + b" " * 300_000 + b"}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "at most 262,144 bytes" in response.get_json()["detail"]

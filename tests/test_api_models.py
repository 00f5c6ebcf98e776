"""GET /api/v1/health, /api/v1/models and the model card."""
from mlapi.catalog import USE_CASES

NAMES = [use_case.name for use_case in USE_CASES]


def test_health_ok_lists_serving_versions(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "models": {name: "v1" for name in NAMES}, "database": "up",
                                   "limit_storage": "up"}


def test_untrained_model_makes_health_degraded(make_app, tmp_path):
    response = make_app(ARTIFACTS_DIR=tmp_path / "none").test_client().get("/api/v1/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["models"] == {name: None for name in NAMES}
    for name in NAMES:
        assert any(f"flask --app mlapi train {name}" in problem for problem in body["problems"])


def test_models_lists_every_use_case(client):
    listed = client.get("/api/v1/models").get_json()["models"]
    assert [entry["name"] for entry in listed] == NAMES
    assert listed[0] == {"name": "sentiment", "title": "Sentiment analysis", "active_version": "v1", "versions": ["v1"]}


def test_model_card(client):
    card = client.get("/api/v1/models/sentiment").get_json()
    assert card["name"] == "sentiment" and card["active_version"] == "v1" and card["description"]
    (version,) = card["versions"]
    assert set(version) == {"version", "created_at", "sha256", "metrics", "dataset", "params", "source", "publisher",
                            "note", "size_bytes", "latency_ms", "explanation_method", "libraries"}
    assert version["source"] == "trained" and version["publisher"] is None
    assert 0 <= version["metrics"]["accuracy"] <= 1 and len(version["sha256"]) == 64
    assert card["input_schema"]["type"] == "object"
    assert card["input_schema"]["properties"]["text"]["maxLength"] == 5000
    assert card["input_schema"]["properties"]["text"]["minLength"] == 1
    assert card["input_schema"]["additionalProperties"] is False


def test_every_card_example_is_a_valid_body(client):
    for name in NAMES:
        card = client.get(f"/api/v1/models/{name}").get_json()
        assert card["active_version"] == "v1" and card["versions"][0]["metrics"]
        response = client.post(f"/api/v1/{name}", json=card["example"])
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["model"] == {"name": name, "version": "v1"}


def test_unknown_model_card_is_404(client):
    response = client.get("/api/v1/models/astrology")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert "astrology" in response.get_json()["detail"]

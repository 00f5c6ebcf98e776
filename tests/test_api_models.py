"""GET /api/v1/health, /api/v1/models and the model card."""


def test_health_ok_lists_serving_versions(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "models": {"sentiment": "v1"}}


def test_untrained_model_makes_health_degraded(make_app, tmp_path):
    response = make_app(ARTIFACTS_DIR=tmp_path / "none").test_client().get("/api/v1/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["models"] == {"sentiment": None}
    assert "flask --app mlapi train sentiment" in body["problems"][0]


def test_models_lists_every_use_case(client):
    (entry,) = client.get("/api/v1/models").get_json()["models"]
    assert entry == {"name": "sentiment", "title": "Sentiment analysis", "active_version": "v1", "versions": ["v1"]}


def test_model_card(client):
    card = client.get("/api/v1/models/sentiment").get_json()
    assert card["name"] == "sentiment" and card["active_version"] == "v1" and card["description"]
    (version,) = card["versions"]
    assert set(version) == {"version", "created_at", "sha256", "metrics", "dataset", "params"}
    assert 0 <= version["metrics"]["accuracy"] <= 1 and len(version["sha256"]) == 64
    assert card["input_schema"]["type"] == "object"
    assert card["input_schema"]["properties"]["text"]["maxLength"] == 5000
    assert card["input_schema"]["properties"]["text"]["minLength"] == 1
    assert card["input_schema"]["additionalProperties"] is False


def test_card_example_is_a_valid_body(client):
    example = client.get("/api/v1/models/sentiment").get_json()["example"]
    assert client.post("/api/v1/sentiment", json=example).status_code == 200


def test_unknown_model_card_is_404(client):
    response = client.get("/api/v1/models/astrology")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert "astrology" in response.get_json()["detail"]

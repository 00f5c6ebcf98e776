"""GET /api/openapi.json: a valid OpenAPI document of every /api route, and real responses that match it."""
from __future__ import annotations

import base64
import io
import re
import shutil

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from mlapi.access.keys import create_key


@pytest.fixture
def doc(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def admin_key(app):
    with app.app_context():
        return create_key("docs-admin", "admin")


def operation_of(doc: dict, method: str, path: str) -> dict:
    """The documented operation that ``method path`` (a real path) is an instance of."""
    for template, item in doc["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method in item:
            return item[method]
    raise AssertionError(f"{method.upper()} {path} is not in the document")


def check_response(doc: dict, method: str, path: str, response) -> None:
    """``response`` has a status, media type, body and headers that the document gives for this operation."""
    responses = operation_of(doc, method, path)["responses"]
    assert str(response.status_code) in responses, f"{response.status_code} is not documented for {path}"
    documented = responses[str(response.status_code)]
    assert response.mimetype in documented["content"]
    if response.mimetype.endswith("json"):
        schema = {**documented["content"][response.mimetype]["schema"], "components": doc["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(response.get_json()), key=str)
        assert not errors, f"{method.upper()} {path}: {errors[0].message} at {list(errors[0].absolute_path)}"
    for name, header in documented.get("headers", {}).items():
        assert name in response.headers, f"{name} missing on {response.status_code} from {path}"
        kind = doc["components"]["headers"][name]["schema"]["type"] if "$ref" in header else header["schema"]["type"]
        assert kind != "integer" or response.headers[name].isdigit()


def examples_of(operation: dict) -> list[dict]:
    """Keyword arguments for the test client: one request per example the operation documents."""
    content = operation.get("requestBody", {}).get("content", {})
    calls = [{"json": example["value"]} for example in content.get("application/json", {}).get("examples", {}).values()]
    if "multipart/form-data" in content:
        image = base64.b64decode(content["application/json"]["examples"]["one"]["value"]["image"])
        field = next(iter(content["multipart/form-data"]["schema"]["properties"]))
        calls.append({"data": {field: (io.BytesIO(image), "chest.png")},
                      "content_type": "multipart/form-data"})
    return calls or [{}]


def concrete(template: str, operation: dict) -> str:
    """The path with each path parameter replaced by its example, and the query parameters' examples."""
    path, query = template, []
    for parameter in operation.get("parameters", []):
        example = parameter.get("example", parameter["schema"].get("example"))
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(example))
        elif example is not None:
            query.append(f"{parameter['name']}={example}")
    return path + ("?" + "&".join(query) if query else "")


def test_the_document_is_valid_openapi(doc):
    validate_spec(doc)
    assert doc["openapi"].startswith("3.")


def test_every_api_route_flask_knows_is_documented(app, doc):
    routes = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes and routes <= documented


CHANGES_VERSIONS = {"api_publish_version", "api_delete_version"}  # tests/test_publishing.py checks their answers
CHANGES_RULES = {"alerts_add_rule", "alerts_remove_rule"}  # tests/test_alerts.py checks theirs


def test_every_operation_answers_its_own_examples_as_documented(client, doc, admin_key):
    called = 0
    for template, item in doc["paths"].items():
        for method, operation in item.items():
            if operation["operationId"] in CHANGES_VERSIONS | CHANGES_RULES:
                continue
            anonymous = operation.get("security") is None or {} in operation["security"] or not operation["security"]
            headers = {} if anonymous else {"Authorization": f"Bearer {admin_key}"}
            for call in examples_of(operation):
                path = concrete(template, operation)
                response = client.open(path, method=method.upper(), headers=headers, **call)
                assert response.status_code == 200, (path, call.keys(), response.get_data(as_text=True)[:300])
                check_response(doc, method, path.partition("?")[0], response)
                called += 1
    assert called >= len(doc["paths"]) - 3 + 3  # the batch and upload examples too; not the version and rule routes


def test_batch_examples_answer_in_the_batch_form(client, doc):
    operation = doc["paths"]["/api/v1/sentiment"]["post"]
    batch = operation["requestBody"]["content"]["application/json"]["examples"]["two"]["value"]
    body = client.post("/api/v1/sentiment", json=batch).get_json()
    assert len(body["results"]) == len(batch["texts"])


def test_examples_are_the_model_cards(client, doc):
    for name in ("sentiment", "fraud", "demand"):
        card = client.get(f"/api/v1/models/{name}").get_json()
        examples = doc["paths"][f"/api/v1/{name}"]["post"]["requestBody"]["content"]["application/json"]["examples"]
        assert examples["one"]["value"] == card["example"]


@pytest.mark.parametrize(
    "method, path, call, status",
    [
        ("post", "/api/v1/sentiment", {"json": {"text": ""}}, 422),
        ("post", "/api/v1/fraud", {"json": {"transaction": {"Amount": "ten"}}}, 422),
        ("post", "/api/v1/sentiment", {"data": "{", "content_type": "application/json"}, 400),
        ("post", "/api/v1/demand", {"data": "series=1_1", "content_type": "text/plain"}, 415),
        ("post", "/api/v1/recommend", {"data": "[" * 300_000, "content_type": "application/json"}, 413),
        ("get", "/api/v1/models", {"headers": {"Authorization": "Bearer mlapi_0000_unknown"}}, 401),
        ("put", "/api/v1/models/sentiment/active", {"json": {"version": "v1"}}, 401),
        ("get", "/api/v1/models/nothing", {}, 404),
        ("get", "/api/v1/movies?limit=0", {}, 422),
        ("post", "/api/v1/xray", {"data": {"image": (io.BytesIO(b"GIF89a"), "x.gif")},
                                  "content_type": "multipart/form-data"}, 422),
    ],
)
def test_errors_are_documented_problems(client, doc, method, path, call, status):
    response = client.open(path, method=method.upper(), **call)
    assert response.status_code == status
    check_response(doc, method, path.partition("?")[0], response)


def test_a_client_key_on_an_admin_endpoint_is_a_documented_403(app, client, doc):
    with app.app_context():
        key = create_key("docs-client", "client")
    response = client.put("/api/v1/models/sentiment/active", json={"version": "v1"},
                          headers={"X-API-Key": key})
    assert response.status_code == 403
    check_response(doc, "put", "/api/v1/models/sentiment/active", response)


def test_over_the_limit_is_a_documented_429(make_app):
    client = make_app(RATELIMIT_ANONYMOUS="2/minute").test_client()
    doc = client.get("/api/openapi.json").get_json()
    client.get("/api/v1/models")
    response = client.get("/api/v1/models")
    assert response.status_code == 429
    check_response(doc, "get", "/api/v1/models", response)


def test_a_model_that_cannot_serve_is_a_documented_503(make_app, artifacts):
    shutil.rmtree(artifacts / "demand")
    client = make_app().test_client()
    doc = client.get("/api/openapi.json").get_json()
    for method, path, call in [("get", "/api/v1/demand/series", {}),
                               ("post", "/api/v1/demand", {"json": {"series": "1_1"}})]:
        response = client.open(path, method=method.upper(), **call)
        assert response.status_code == 503
        check_response(doc, method, path, response)
    health = client.get("/api/v1/health")
    check_response(doc, "get", "/api/v1/health", health)


def test_a_route_without_a_description_is_left_out(make_app):
    app = make_app()
    app.add_url_rule("/api/v1/undocumented", "undocumented", lambda: "")
    document = app.test_client().get("/api/openapi.json").get_json()
    assert "/api/v1/undocumented" not in document["paths"]

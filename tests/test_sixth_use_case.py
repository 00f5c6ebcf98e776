"""A sixth use case, defined in this file alone, is served by listing it in the catalog.

Its API route, batch form, OpenAPI operation, model card, page and link on /, metrics label and
prediction-log rows all follow from its ``UseCase``: no module of mlapi names it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from marshmallow import Schema, fields, validate
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

import mlapi
from mlapi import catalog, extensions
from mlapi.observability.prediction_log import PredictionLog
from mlapi.serving.payloads import SingleOrBatch
from mlapi.serving.registry import Registry
from mlapi.serving.training import train_use_case
from mlapi.storage.database import db
from mlapi.usecase import Trained, UseCase, shares
from tests.test_metrics import scrape, value

LABELS = ("short", "long")


def make_rows(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Petal length and width in cm; "long" petals are over 3 cm."""
    rng = np.random.default_rng(seed)
    lengths = rng.uniform(1.0, 6.0, count)
    widths = lengths / 3 + rng.normal(0, 0.1, count)
    return np.column_stack([lengths, widths]), (lengths > 3.0).astype(int)


def train(data_dir: Path, sample: float, step) -> Trained:
    step("fit")
    features, labels = make_rows(200, seed=1)
    model = LogisticRegression().fit(features, labels)
    test_features, test_labels = make_rows(100, seed=2)
    predicted = model.predict(test_features)
    return Trained(model, {"accuracy": round(float((predicted == test_labels).mean()), 4), "test_rows": 100},
                   {"name": "made in the test", "rows": 300, "license": "CC0", "source": "numpy"},
                   label_shares=shares(LABELS[label] for label in predicted))


def predict(model, items: list[dict]) -> list[dict]:
    features = np.array([[item["petal"]["length"], item["petal"]["width"]] for item in items])
    probabilities = model.predict_proba(features)[:, 1]
    return [{"label": LABELS[int(p > 0.5)], "probability": round(float(p), 4)} for p in probabilities]


class Petal(Schema):
    length = fields.Float(required=True, validate=validate.Range(0, 30))
    width = fields.Float(required=True, validate=validate.Range(0, 30))


class PetalRequest(SingleOrBatch):
    single, batch, item = "petal", "petals", "petal"
    petal = fields.Nested(Petal)
    petals = fields.List(fields.Nested(Petal), validate=validate.Length(min=1, max=100))


class PetalResult(Schema):
    label = fields.String(required=True)
    probability = fields.Float(required=True)


PETALS = UseCase(
    name="petals",
    title="Petal length",
    description="Says whether a petal is short or long from its length and width.",
    train=train,
    predict=predict,
    outcome=lambda result: (result["label"], result["probability"]),
    request_schema=PetalRequest,
    response_schema=PetalResult,
    example={"petal": {"length": 4.5, "width": 1.5}},
    headline_metric="accuracy",
    training_steps=("fit",),
)


@pytest.fixture
def sixth(monkeypatch, make_app, artifacts):
    """An app built from the catalog with the sixth use case listed, and a trained version of it."""
    monkeypatch.setattr(catalog, "USE_CASES", (*catalog.USE_CASES, PETALS))
    train_use_case(Registry(artifacts, catalog.USE_CASES), "petals", artifacts)
    return make_app()


def test_no_module_of_mlapi_names_the_sixth_use_case():
    package = Path(mlapi.__file__).parent
    assert not [path for path in package.rglob("*.py") if "petals" in path.read_text()]


def test_its_api_route_answers_one_item_and_a_batch(sixth):
    client = sixth.test_client()
    one = client.post("/api/v1/petals", json={"petal": {"length": 5.0, "width": 1.7}})
    assert one.status_code == 200
    assert one.get_json() == {"label": "long", "probability": one.get_json()["probability"],
                              "model": {"name": "petals", "version": "v1"}}
    batch = client.post("/api/v1/petals", json={"petals": [{"length": 1.2, "width": 0.3},
                                                           {"length": 5.5, "width": 1.9}]})
    assert [result["label"] for result in batch.get_json()["results"]] == ["short", "long"]
    refused = client.post("/api/v1/petals", json={"petal": {"length": "long"}})
    assert refused.status_code == 422
    assert set(refused.get_json()["errors"]["petal"]) == {"length", "width"}


def test_its_openapi_operation_its_card_and_the_list_of_models(sixth):
    client = sixth.test_client()
    operation = client.get("/api/openapi.json").get_json()["paths"]["/api/v1/petals"]["post"]
    assert operation["summary"] == "Petal length"
    assert operation["tags"] == ["petals"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert examples["two"]["value"] == {"petals": [{"length": 4.5, "width": 1.5}] * 2}
    assert len(operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]) == 2
    card = client.get("/api/v1/models/petals").get_json()
    assert card["active_version"] == "v1"
    assert card["versions"][0]["metrics"]["accuracy"] > 0.9
    assert card["example"] == PETALS.example
    assert "petals" in [model["name"] for model in client.get("/api/v1/models").get_json()["models"]]


def test_its_page_is_linked_from_home_and_predicts(sixth):
    client = sixth.test_client()
    assert 'href="/petals"' in client.get("/").get_data(as_text=True)
    page = client.get("/petals")
    assert page.status_code == 200 and "Petal length" in page.get_data(as_text=True)
    answered = client.post("/petals", data={"body": '{"petal": {"length": 1.1, "width": 0.2}}'})
    assert answered.status_code == 200
    assert "&#34;label&#34;: &#34;short&#34;" in answered.get_data(as_text=True)
    unreadable = client.post("/petals", data={"body": '{"petal": '})
    assert unreadable.status_code == 422 and "Not valid JSON" in unreadable.get_data(as_text=True)


def test_its_metrics_label_and_prediction_log_rows(sixth):
    client = sixth.test_client()
    before = scrape(client)
    client.post("/api/v1/petals", json={"petal": {"length": 5.0, "width": 1.7}})
    client.post("/petals", data={"body": '{"petal": {"length": 1.0, "width": 0.3}}'})
    after = scrape(client)
    for label in ("long", "short"):
        counted = value(after, "mlapi_predictions_total", use_case="petals", version="v1", predicted=label)
        assert counted == value(before, "mlapi_predictions_total", use_case="petals", version="v1", predicted=label) + 1
    extensions.prediction_log(sixth).flush()
    with sixth.app_context():
        rows = db.session.scalars(select(PredictionLog).where(PredictionLog.use_case == "petals")).all()
    assert sorted((row.channel, row.status, row.items) for row in rows) == [("api", 200, 1), ("page", 200, 1)]

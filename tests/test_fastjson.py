"""JSON responses through orjson read back as Flask's own encoder writes them."""
import json
from datetime import UTC, datetime

import numpy as np
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from mlapi.fastjson import OrjsonProvider

DOCUMENT = {"label": "positive", "score": 0.9731, "probabilities": {"negative": 0.01, "positive": 0.9731},
            "explanation": [{"term": "café", "weight": -0.5}], "none": None, "ok": True, "count": 3}


def providers() -> tuple[OrjsonProvider, DefaultJSONProvider]:
    app = Flask(__name__)
    return OrjsonProvider(app), DefaultJSONProvider(app)


def test_same_document_keys_sorted_compact():
    fast, standard = providers()
    written = fast.dumps(DOCUMENT)
    assert json.loads(written) == json.loads(standard.dumps(DOCUMENT))
    assert written.startswith('{"count":3,"explanation":[{"term":"café"')


def test_dates_stay_http_dates_and_numpy_values_are_numbers():
    fast, standard = providers()
    value = {"at": datetime(2026, 12, 1, 8, 30, tzinfo=UTC), "p": np.float64(0.25), "v": np.array([1, 2])}
    assert json.loads(fast.dumps(value)) == {"at": "Tue, 01 Dec 2026 08:30:00 GMT", "p": 0.25, "v": [1, 2]}
    assert json.loads(fast.dumps(value))["at"] == json.loads(standard.dumps({"at": value["at"]}))["at"]


def test_what_orjson_refuses_is_written_by_the_standard_encoder():
    fast, _ = providers()
    assert json.loads(fast.dumps({"id": 2**70})) == {"id": 2**70}


def test_debug_indentation_is_the_standard_encoder():
    fast, _ = providers()
    assert fast.dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'


def test_the_app_answers_through_it(app, client):
    assert isinstance(app.json, OrjsonProvider)
    response = client.post("/api/v1/sentiment", json={"text": "Great crew, lovely flight"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_data(as_text=True) == app.json.dumps(response.get_json()) + "\n"

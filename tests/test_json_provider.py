"""JSON responses through orjson read back as Flask's own encoder writes them."""
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from mlapi.server.json_provider import OrjsonProvider

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


BODIES = [
    b'{"text": "Great crew, lovely flight"}',
    b'{"texts": ["caf\\u00e9", "\\ud83d\\ude00 ok", "tab\\there"]}',
    b'{"ratings": [{"movie_id": 770828, "rating": 9.5}], "k": 5, "none": null, "ok": true}',
    b'{"big": 18446744073709551615, "small": -9223372036854775808, "zero": -0, "tiny": 1.5e-400}',
    b'{"beyond_64_bits": 18446744073709551616, "negative": -123456789012345678901234567890}',
    b'{"not_a_number": NaN, "infinite": [Infinity, -Infinity, 1e400]}',
    b'\xef\xbb\xbf{"bom": 1}',
    '{"utf16": "caf\u00e9"}'.encode("utf-16"),
    b'{"a": 1, "a": 2}',
    b" [1, 2.0, 3e2] ",
    b'{"texts": ["' + b"x" * 20_000 + b'", 12345678901234567890123, NaN]}',  # beyond SMALL_BODY
]


@pytest.mark.parametrize("body", BODIES)
def test_a_body_reads_as_the_standard_decoder_reads_it(body):
    fast, standard = providers()
    # repr tells an int from a float and compares NaN with itself
    assert repr(fast.loads(body)) == repr(standard.loads(body)) == repr(json.loads(body))


@pytest.mark.parametrize("body", [b'{"text": "hi",', b"", b"{'single': 1}", b'"\\ud800"x'])
def test_a_broken_body_raises_a_value_error_as_before(body):
    fast, _ = providers()
    with pytest.raises(ValueError):
        fast.loads(body)


def test_deep_nesting_raises_recursion_error_as_before():
    fast, _ = providers()
    with pytest.raises(RecursionError):
        fast.loads(b"[" * 100_000 + b"]" * 100_000)

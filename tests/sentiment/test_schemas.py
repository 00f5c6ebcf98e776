"""The plain-body path of the sentiment request loads exactly what marshmallow loads, or steps aside."""
import pytest
from marshmallow import ValidationError

from mlapi.sentiment.schemas import MAX_CHARS, SentimentRequest

SCHEMA = SentimentRequest()
PLAIN = [
    {"text": "The crew was lovely!"}, {"text": "x"}, {"text": "é" * MAX_CHARS}, {"text": "  padded\t"},
    {"text": "\u2003ok\u2003"}, {"text": "a\x00b"},
]
NOT_PLAIN = [
    {"text": ""}, {"text": " "}, {"text": "\t\n\r\x0b\x0c"}, {"text": "\u2003\u3000\x1c\x85"},  # blank by str.strip too
    {"text": "x" * (MAX_CHARS + 1)}, {"text": None}, {"text": 5}, {"text": ["a"]}, {"text": b"bytes"},
    {"texts": ["a", "b"]}, {"text": "a", "texts": ["b"]}, {"text": "a", "extra": 1}, {}, ["text"], "text", None,
]


@pytest.mark.parametrize("body", PLAIN)
def test_a_plain_body_loads_as_marshmallow_loads_it(body):
    assert SCHEMA.load_plain(body) == SCHEMA.load(body) == {"items": [{"text": body["text"]}], "batch": False}


@pytest.mark.parametrize("body", NOT_PLAIN)
def test_any_other_body_is_left_to_marshmallow(body):
    assert SCHEMA.load_plain(body) is None


SINGLE_NOT_PLAIN = [body for body in NOT_PLAIN  # bytes: marshmallow decodes them, but JSON has none
                    if isinstance(body, dict) and "texts" not in body and type(body.get("text")) is not bytes]


@pytest.mark.parametrize("body", SINGLE_NOT_PLAIN)
def test_the_single_texts_left_to_marshmallow_are_the_ones_it_refuses(body):
    with pytest.raises(ValidationError):
        SCHEMA.load(body)

"""POST /api/v1/sentiment and the /sentiment page, on the same inputs."""
import html
import json
import re
import shlex

import pytest

from mlapi.sentiment.views import EXAMPLES


def api(client, body):
    return client.post("/api/v1/sentiment", json=body)


def test_single_text(client):
    body = api(client, {"text": "Thanks, the crew was great"}).get_json()
    assert body["label"] in {"positive", "neutral", "negative"}
    assert body["model"] == {"name": "sentiment", "version": "v1"}
    assert set(body) == {"label", "score", "probabilities", "explanation", "explanation_method", "looks_english",
                         "model"}
    assert body["explanation_method"] == "linear"


def test_batch_answers_in_input_order(client):
    texts = list(EXAMPLES.values())
    batch = api(client, {"texts": texts}).get_json()
    assert set(batch) == {"results", "model"}
    singles = [{k: v for k, v in api(client, {"text": t}).get_json().items() if k != "model"} for t in texts]
    assert batch["results"] == singles


@pytest.mark.parametrize(
    "body, field",
    [
        ({"text": ""}, "text"),
        ({"text": "   \n"}, "text"),
        ({"text": "x" * 5001}, "text"),
        ({"text": 42}, "text"),
        ({"text": None}, "text"),
        ({"texts": []}, "texts"),
        ({"texts": ["ok"] * 1001}, "texts"),
        ({"texts": ["ok", ""]}, "texts"),
        ({"texts": "not a list"}, "texts"),
        ({"text": "ok", "mood": "happy"}, "mood"),
        ({"text": "ok", "texts": ["ok"]}, "_schema"),
        ({}, "_schema"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(client, body, field):
    response = api(client, body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_an_empty_text_gets_one_clear_message(client):
    assert api(client, {"text": ""}).get_json()["errors"] == {"text": ["Must not be blank."]}


def test_the_limits_themselves_are_accepted(client):
    assert api(client, {"text": "x" * 5000}).status_code == 200
    assert len(api(client, {"texts": ["good"] * 1000}).get_json()["results"]) == 1000


def test_page_shows_examples_and_no_result_yet(client):
    page = client.get("/sentiment").get_data(as_text=True)
    for name in EXAMPLES:
        assert html.escape(name) in page
    assert "Result:" not in page


@pytest.mark.parametrize("text", list(EXAMPLES.values()))
def test_page_and_api_agree(client, text):
    expected = api(client, {"text": text}).get_json()
    response = client.post("/sentiment", data={"text": text})
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert f'label-{expected["label"]}">{expected["label"]}' in page
    shown_json = re.search(r"<pre class=\"code\"><code>(.*?)</code></pre>", page, re.S).group(1)
    assert json.loads(shown_json) == expected


def test_page_curl_command_sends_the_page_input(client):
    text = "Don't \"quote\" me, it's fine"
    page = html.unescape(client.post("/sentiment", data={"text": text}).get_data(as_text=True))
    curl = re.findall(r"<pre class=\"code\"[^>]*><code>(curl .*?)</code></pre>", page, re.S)[0]
    words = shlex.split(curl.replace("\\\n", " "))
    assert words[words.index("-X") + 1] == "POST" and words[words.index("-X") + 2].endswith("/api/v1/sentiment")
    assert json.loads(words[words.index("-d") + 1]) == {"text": text}
    assert not any("Authorization" in word for word in words)  # used without a key: an empty one would be a 401
    assert "runs without a key" in page


def test_page_highlights_decisive_words(client):
    page = client.post("/sentiment", data={"text": EXAMPLES["Negative"]}).get_data(as_text=True)
    assert re.search(r'<mark class="(for|against)-[123]">', page)


def test_page_shows_validation_errors(client):
    response = client.post("/sentiment", data={"text": "  "})
    assert response.status_code == 422
    assert "Must not be blank." in response.get_data(as_text=True)


def test_pages_load_nothing_from_another_host(client):
    for page in (client.get("/"), client.get("/sentiment"), client.post("/sentiment", data={"text": "hi"})):
        markup = page.get_data(as_text=True)
        assert not re.search(r"""(src|href)=["'](https?:)?//""", markup)

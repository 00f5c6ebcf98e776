"""The /models page: a leaderboard of versions, the publish form and the admin form (both CSRF-protected)."""
import html
import io
import json
import pickle
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mlapi.access.keys import create_key
from mlapi.serving.registry import registry
from tests.conftest import SAMPLE
from tests.servers import ROOT


@pytest.fixture
def two_versions(app):
    result = app.test_cli_runner().invoke(args=["train", "sentiment", "--sample", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        return {"admin": create_key("teacher", "admin"), "client": create_key("student", "client")}


def form_token(client) -> str:
    page = client.get("/models").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def submit(client, key, action="activate", version="v2", token=None):
    data = {"csrf_token": token if token is not None else form_token(client), "name": "sentiment",
            "key": key, "version": version, "action": action}
    return client.post("/models", data=data)


def test_page_lists_every_version_with_metrics(client, two_versions):
    page = html.unescape(client.get("/models").get_data(as_text=True))
    sentiment = page[page.index('id="sentiment"'):page.index('id="recommend"')]
    assert "v1 <strong>(active)</strong>" in sentiment and "<td>v2</td>" in sentiment
    assert "accuracy" in sentiment and "macro F1" in sentiment  # each metric's display name
    assert "CC BY-NC-SA 4.0" in sentiment
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)


def test_admin_activates_and_rolls_back_from_the_page(app, client, two_versions):
    response = submit(client, two_versions["admin"])
    assert response.status_code == 200 and "sentiment: v2 is now active" in response.get_data(as_text=True)
    with app.app_context():
        assert registry.active_version("sentiment") == "v2"
    sentiment = client.get("/models").get_data(as_text=True).split('id="sentiment"')[1].split('id="recommend"')[0]
    assert "Roll back to v1</button>" in sentiment  # the button names the version it will serve
    rolled = submit(client, two_versions["admin"], action="rollback").get_data(as_text=True)
    assert "v1 is now active (rolled back from v2)" in rolled
    assert "Roll back to" not in rolled.split('id="sentiment"')[1].split('id="recommend"')[0]  # nothing earlier


@pytest.mark.parametrize("who, status", [("client", 403), ("nobody", 401)])
def test_only_an_admin_key_switches(app, client, two_versions, who, status):
    key = two_versions.get(who, "mlapi_000000000000_nothing")
    assert submit(client, key).status_code == status
    with app.app_context():
        assert registry.active_version("sentiment") == "v1"


def test_the_form_needs_its_csrf_token(app, client, two_versions):
    form_token(client)  # the session now holds a token, but the request does not carry it
    response = submit(client, two_versions["admin"], token="forged")
    assert response.status_code == 400 and "reload it" in response.get_data(as_text=True)
    with app.app_context():
        assert registry.active_version("sentiment") == "v1"


def test_a_refused_version_changes_nothing(app, client, two_versions):
    response = submit(client, two_versions["admin"], version="v9")
    assert response.status_code == 422 and "nothing changed" in response.get_data(as_text=True)


# The leaderboard and the publish form.


def page_sections(client, path="/models", response=None) -> dict[str, str]:
    """The page's HTML cut into its use cases' sections, by name."""
    page = (response or client.get(path)).get_data(as_text=True)
    parts = re.split(r'<section class="model" id="([a-z]+)">', page)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def leaderboard_versions(section: str) -> list[str]:
    """The versions of a section's leaderboard, top row first."""
    body = section.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r'<td class="rank">[^<]*</td>\s*<td>(v\d+)', body)


@pytest.fixture
def published_v2(artifacts):
    """sentiment v2: a copy of v1 (its model file, so the sha256 still matches) marked as published by ana,
    with a better accuracy and a note that is HTML."""
    folder = artifacts / "sentiment" / "v2"
    shutil.copytree(artifacts / "sentiment" / "v1", folder)
    card = json.loads((folder / "card.json").read_text())
    card["metrics"]["accuracy"] = round(card["metrics"]["accuracy"] + 0.05, 4)
    card.update({"version": "v2", "source": "published", "publisher": "ana", "note": "<b>hi</b>",
                 "latency_ms": {"p50": 1.234, "p95": 2.5}, "published_via": "api"})
    (folder / "card.json").write_text(json.dumps(card))
    return card


def test_the_leaderboard_ranks_by_the_headline_metric(client, published_v2):
    sentiment = page_sections(client)["sentiment"]
    assert leaderboard_versions(sentiment) == ["v2", "v1"]  # the better accuracy first, though v1 is active
    rows = sentiment.split("<tbody>")[1].split("</tr>")
    assert '<td class="rank">1</td>' in rows[0] and "published by ana" in rows[0] and "1.2&nbsp;ms" in rows[0]
    assert f'<td class="headline">{published_v2["metrics"]["accuracy"]}</td>' in rows[0]
    assert "&lt;b&gt;hi&lt;/b&gt;" in rows[0] and "<b>hi</b>" not in sentiment  # the note is text, not HTML
    assert 'class="active"' in rows[1] and "v1 <strong>(active)</strong>" in rows[1]
    assert '<span class="by">trained</span>' in rows[1]
    assert '<th scope="col" class="headline">accuracy</th>' in sentiment


def test_versions_without_the_headline_metric_come_last_and_lower_errors_win(artifacts, client):
    for version, mase in (("v2", None), ("v3", 0.9)):  # demand's MASE: an error, smaller is better
        folder = artifacts / "demand" / version
        shutil.copytree(artifacts / "demand" / "v1", folder)
        card = json.loads((folder / "card.json").read_text())
        card["version"] = version
        if mase is None:
            del card["metrics"]["mase"]
        else:
            card["metrics"]["mase"] = mase
        (folder / "card.json").write_text(json.dumps(card))
    demand = page_sections(client)["demand"]
    assert leaderboard_versions(demand) == ["v3", "v1", "v2"]
    assert '<td class="rank">–</td>' in demand.split("<tbody>")[1].split("</tr>")[2]


def test_a_publish_form_only_where_published_models_are_taken(client):
    sections = page_sections(client)
    for name in ("sentiment", "fraud", "xray"):
        form = sections[name].split('enctype="multipart/form-data"')[1].split("</form>")[0]
        assert 'name="action" value="publish"' in form and 'type="password" name="key"' in form
        assert 'type="file" name="model" accept=".skops"' in form and 'maxlength="500"' in form
        assert 'name="csrf_token"' in form and ">Publish</button>" in form
        assert f"/api/v1/models/{name}/versions" in sections[name] and f"-F model=@{name}.skops" in sections[name]
    for name in ("recommend", "demand"):
        assert "multipart/form-data" not in sections[name] and "/versions" not in sections[name]
        assert "takes no published models" in sections[name]
        assert 'href="#sentiment"' in sections[name] and 'href="/docs"' in sections[name]


@pytest.fixture(scope="module")
def skops_model(tmp_path_factory) -> Path:
    """A small valid sentiment model, as a student would publish it."""
    tweets = pd.read_csv(ROOT / "data" / "sentiment" / "airline_tweets.csv").sample(300, random_state=0)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=200))
    model.fit(tweets.text, tweets.airline_sentiment)
    path = tmp_path_factory.mktemp("upload") / "model.skops"
    sio.dump(model, path)
    return path


def publish_form(client, key, upload: Path | None, note="", token=None, name="sentiment"):
    data = {"csrf_token": token if token is not None else form_token(client), "name": name, "action": "publish",
            "key": key, "note": note}
    if upload is not None:
        data["model"] = (io.BytesIO(upload.read_bytes()), upload.name)
    return client.post("/models", data=data, content_type="multipart/form-data")


@pytest.fixture
def keys(app):
    with app.app_context():
        return {"publisher": create_key("ana", "client", None, None, can_publish=True),
                "client": create_key("bo", "client"), "admin": create_key("teacher", "admin")}


def test_a_student_publishes_from_the_page(app, client, keys, skops_model):
    response = publish_form(client, keys["publisher"], skops_model, note="tf-idf <3")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    status = html.unescape(re.search(r'role="status">([^<]*)</p>', page).group(1))
    assert re.fullmatch(r"sentiment v2 published: accuracy 0\.\d+ \(held-out\), p50 [\d.]+ ms\. An admin can "
                        r"activate it below\.", status), status
    sentiment = page_sections(client, response=response)["sentiment"]
    assert 'role="status"' in sentiment  # the message shows where the form was
    assert "v2" in leaderboard_versions(sentiment) and "published by ana" in sentiment
    assert "tf-idf &lt;3" in sentiment
    with app.app_context():
        card = registry.card("sentiment", "v2")
        assert registry.active_version("sentiment") == "v1"  # an admin activates it
    assert (card["publisher"], card["published_via"], card["note"]) == ("ana", "page", "tf-idf <3")


def test_a_pickle_is_refused_with_the_reason(app, client, keys, tmp_path):
    upload = tmp_path / "model.skops"
    upload.write_bytes(pickle.dumps({"a": 1}))
    response = publish_form(client, keys["admin"], upload)
    assert response.status_code == 422
    status = re.search(r'role="status">([^<]*)</p>', response.get_data(as_text=True)).group(1)
    assert status.startswith("Not published (422)") and "pickle" in status.lower()
    with app.app_context():
        assert registry.versions("sentiment") == ["v1"]


@pytest.mark.parametrize("who, status, said", [("client", 403, "may not publish"), ("nobody", 401, "unknown")])
def test_only_a_key_that_may_publish_publishes(app, client, keys, skops_model, who, status, said):
    response = publish_form(client, keys.get(who, "mlapi_000000000000_nothing"), skops_model)
    assert response.status_code == status and said in response.get_data(as_text=True)
    with app.app_context():
        assert registry.versions("sentiment") == ["v1"]


def test_the_publish_form_needs_its_csrf_token(app, client, keys, skops_model):
    form_token(client)
    response = publish_form(client, keys["publisher"], skops_model, token="forged")
    assert response.status_code == 400 and "reload it" in response.get_data(as_text=True)
    with app.app_context():
        assert registry.versions("sentiment") == ["v1"]


def test_publishing_needs_a_file_and_a_model_that_takes_them(client, keys, skops_model):
    no_file = publish_form(client, keys["publisher"], None)
    assert no_file.status_code == 422 and "Choose the skops file" in no_file.get_data(as_text=True)
    refused = publish_form(client, keys["publisher"], skops_model, name="demand")  # refused before any check
    assert refused.status_code == 422 and "demand does not take published models" in refused.get_data(as_text=True)


def test_the_models_page_takes_an_upload_larger_than_other_bodies(app, client, keys, tmp_path):
    upload = tmp_path / "big.skops"
    upload.write_bytes(b"x" * (app.config["MAX_BODY_BYTES"] + 1024))
    response = publish_form(client, keys["publisher"], upload)  # read to the end, then refused as no skops file
    status = re.search(r'role="status">([^<]*)</p>', response.get_data(as_text=True)).group(1)
    assert response.status_code == 422 and status.startswith("Not published (422)"), status

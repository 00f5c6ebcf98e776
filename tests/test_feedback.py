"""Ground truth and live quality: the log keeps what was predicted, feedback names it by request id and position,
and each version's live quality is exactly what its answers and the truths given make.

Every expected figure is computed here from what the API answered and the truths the test gives (scikit-learn's
metrics where it has them), never from stored model outputs.
"""
from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from sqlalchemy import select, update

from mlapi import extensions
from mlapi.access.keys import create_key
from mlapi.fraud.model import examples as fraud_examples
from mlapi.observability import prediction_log
from mlapi.observability.prediction_log import Pending, PredictionLog, utc_now
from mlapi.quality.feedback import Feedback
from mlapi.quality.live import held_out, live_quality
from mlapi.storage.database import db
from mlapi.xray.examples import examples as xray_examples
from mlapi.xray.views import data_dir
from tests.conftest import needs_postgres
from tests.tcp_proxy import TcpProxy
from tests.test_metrics import scrape, value

SECRET_TEXT = "My card 4111 1111 1111 1111 was charged twice, call me on 555-0100"
TEXTS = ["The crew was lovely and we landed early. Thank you!", "Lost my bag again, worst airline ever.",
         "What time does boarding start?", "Delayed three hours and nobody told us anything.",
         "Great seats, friendly staff.", "Is there wifi on the flight to Boston?",
         "Cancelled flight, rude agent, never again.", "Thanks for the upgrade!"]
SENTIMENT_LABELS = ("negative", "neutral", "positive")
WEEK_AGO = timedelta(days=7)


def auth(key: str | None) -> dict:
    return {"Authorization": f"Bearer {key}"} if key else {}


def predict(client, name: str, body: dict, key: str | None = None, query: str = "") -> tuple[str, dict]:
    response = client.post(f"/api/v1/{name}{query}", json=body, headers=auth(key))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.headers["X-Request-ID"], response.get_json()


def give(client, key: str | None, body: dict):
    return client.post("/api/v1/feedback", json=body, headers=auth(key))


def given(client, key: str, body: dict) -> dict:
    response = give(client, key, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def rows_of(app) -> list[PredictionLog]:
    extensions.prediction_log(app).flush()
    with app.app_context():
        rows = db.session.scalars(select(PredictionLog).order_by(PredictionLog.id)).all()
        db.session.expunge_all()
        return rows


def confusion(pairs: list[tuple[str, str]], labels: tuple[str, ...]) -> dict:
    """``{true: {predicted: count}}`` over ``labels``, from (true, predicted) pairs."""
    counted = Counter(pairs)
    return {true: {predicted: counted[true, predicted] for predicted in labels} for true in labels}


@pytest.fixture
def keys(app) -> dict[str, str]:
    with app.app_context():
        return {name: create_key(name, role) for name, role in
                (("ana", "client"), ("bia", "client"), ("teacher", "admin"))}


def test_the_log_keeps_what_each_item_predicted_never_the_input(app, client, keys):
    sentiment_id, sentiment = predict(client, "sentiment", {"texts": [SECRET_TEXT, TEXTS[0]]}, keys["ana"])
    fraud_id, fraud = predict(client, "fraud", {"transaction": client.get("/api/v1/models/fraud").get_json()
                                                ["example"]["transaction"]})
    demand_id, demand = predict(client, "demand", {"series": "1_1", "horizon": 3})
    recommend_id, recommend = predict(client, "recommend", {"liked": [770828, 1300854], "k": 4})
    image = base64.b64encode(client.get("/xray/examples/0.png").data).decode()
    xray_id, xray = predict(client, "xray", {"image": image})
    client.post("/api/v1/sentiment", json={"text": ""})  # a 422 keeps nothing
    outputs = {row.request_id: row.outputs for row in rows_of(app) if row.status == 200}
    assert json.loads(outputs[sentiment_id]) == [{"label": r["label"], "score": r["score"]}
                                                 for r in sentiment["results"]]
    assert json.loads(outputs[fraud_id]) == [{"is_fraud": fraud["is_fraud"], "score": fraud["fraud_probability"]}]
    assert json.loads(outputs[demand_id]) == [[{"date": w["date"], "sales": w["sales"]} for w in demand["forecast"]]]
    assert json.loads(outputs[recommend_id]) == [[m["movie_id"] for m in recommend["recommendations"]]]
    assert json.loads(outputs[xray_id]) == [{"label": xray["label"], "score": xray["probability"]}]
    assert [row.outputs for row in rows_of(app) if row.status == 422] == [None]
    for piece in ("4111", "555-0100", "charged", "My card", "crew", "lovely"):
        assert piece not in outputs[sentiment_id]


def two_sentiment_versions(app, artifacts) -> None:
    """sentiment v2: v1's model under another version, which an admin may try with ?version=v2."""
    shutil.copytree(artifacts / "sentiment" / "v1", artifacts / "sentiment" / "v2")
    card = json.loads((artifacts / "sentiment" / "v2" / "card.json").read_text())
    (artifacts / "sentiment" / "v2" / "card.json").write_text(json.dumps({**card, "version": "v2"}))


def test_feedback_gives_each_version_exactly_its_confusion_matrix(app, client, keys, artifacts):
    two_sentiment_versions(app, artifacts)
    admin = keys["teacher"]
    v1_id, v1 = predict(client, "sentiment", {"texts": TEXTS}, keys["ana"])
    v2_id, v2 = predict(client, "sentiment", {"texts": TEXTS[:6]}, admin, "?version=v2")
    assert (v1["model"]["version"], v2["model"]["version"]) == ("v1", "v2")
    truths_v1 = [SENTIMENT_LABELS[n % 3] for n in range(len(TEXTS))]
    truths_v2 = ["negative", "negative", "neutral", "positive", "positive", "neutral"]

    batch = given(client, keys["ana"], {"items": [{"request_id": v1_id, "position": n, "label": truth}
                                                  for n, truth in enumerate(truths_v1)]})
    assert [item["position"] for item in batch["items"]] == list(range(len(TEXTS)))
    assert batch["items"][3]["predicted"] == {"label": v1["results"][3]["label"], "score": v1["results"][3]["score"]}
    assert batch["items"][3]["truth"] == {"label": truths_v1[3]} and not batch["items"][3]["replaced"]
    for position, truth in enumerate(truths_v2):  # one at a time, by the admin who made them
        one = given(client, admin, {"request_id": v2_id, "position": position, "label": truth})
        assert (one["version"], one["position"], one["use_case"]) == ("v2", position, "sentiment")

    quality = client.get("/api/v1/models/sentiment/quality").get_json()
    assert quality["name"] == "sentiment" and quality["window_minutes"] == 10080
    by_version = {entry["version"]: entry for entry in quality["versions"]}
    assert list(by_version) == ["v1", "v2"]
    for version, answer, truths in (("v1", v1, truths_v1), ("v2", v2, truths_v2)):
        predicted = [result["label"] for result in answer["results"]]
        entry = by_version[version]
        assert entry["count"] == len(truths)
        assert entry["confusion"] == confusion(list(zip(truths, predicted, strict=True)), SENTIMENT_LABELS)
        assert entry["metrics"] == {
            "accuracy": round(accuracy_score(truths, predicted), 4),
            "macro_f1": round(f1_score(truths, predicted, average="macro", zero_division=0), 4)}
        card = json.loads((artifacts / "sentiment" / version / "card.json").read_text())["metrics"]
        assert entry["held_out"] == {"accuracy": card["accuracy"], "macro_f1": card["macro_f1"]}
    with app.app_context():
        assert list(live_quality("sentiment", utc_now() - WEEK_AGO, "v2")) == ["v2"]
        assert live_quality("sentiment", utc_now() - WEEK_AGO, "v2")["v2"]["confusion"] == by_version["v2"]["confusion"]
        assert live_quality("sentiment", utc_now() + timedelta(minutes=1)) == {}  # the window is the predictions'
        aware = datetime.now(UTC) - timedelta(minutes=1)
        assert live_quality("sentiment", aware)["v1"]["count"] == len(TEXTS)


def test_xray_fraud_demand_and_recommend_measure_what_their_answers_and_truths_make(app, client, keys):
    key = keys["ana"]
    with app.app_context():
        shown = xray_examples(data_dir())
        frauds = fraud_examples(extensions.registry(app).get("fraud").model)
    images = [base64.b64encode(client.get(f"/xray/examples/{n}.png").data).decode() for n in range(len(shown))]
    xray_id, xray = predict(client, "xray", {"images": images}, key)
    xray_truths = [label for _, label in shown]
    given(client, key, {"items": [{"request_id": xray_id, "position": n, "label": truth}
                                  for n, truth in enumerate(xray_truths)]})
    fraud_id, fraud = predict(client, "fraud", {"transactions": [e["transaction"] for e in frauds]}, key)
    fraud_truths = [e["label"] == "fraud" for e in frauds]
    given(client, key, {"items": [{"request_id": fraud_id, "position": n, "is_fraud": truth}
                                  for n, truth in enumerate(fraud_truths)]})
    demand_id, demand = predict(client, "demand", {"series": "1_1", "horizon": 4}, key)
    forecast = [week["sales"] for week in demand["forecast"]]
    actual = [forecast[0] * 1.1, 0.0, forecast[2] - 500]  # three weeks known of four; one without sales
    given(client, key, {"request_id": demand_id, "sales": actual})
    first_id, first = predict(client, "recommend", {"liked": [770828, 1300854], "k": 5}, key)
    second_id, _ = predict(client, "recommend", {"liked": [1300854], "k": 5}, key)
    given(client, key, {"request_id": first_id, "movie_id": first["recommendations"][2]["movie_id"]})  # a hit
    given(client, key, {"request_id": second_id, "movie_id": 1300854})  # liked, so never recommended: a miss

    def measured(name: str) -> dict:
        [entry] = client.get(f"/api/v1/models/{name}/quality").get_json()["versions"]
        return entry

    xray_predicted = [result["label"] for result in xray["results"]]
    entry = measured("xray")
    assert entry["confusion"] == confusion(list(zip(xray_truths, xray_predicted, strict=True)), ("normal", "pneumonia"))
    sick = [n for n, truth in enumerate(xray_truths) if truth == "pneumonia"]
    well = [n for n, truth in enumerate(xray_truths) if truth == "normal"]
    assert entry["metrics"] == {
        "sensitivity": round(sum(xray_predicted[n] == "pneumonia" for n in sick) / len(sick), 4),
        "specificity": round(sum(xray_predicted[n] == "normal" for n in well) / len(well), 4),
        "accuracy": round(accuracy_score(xray_truths, xray_predicted), 4)}
    flagged = [result["is_fraud"] for result in fraud["results"]]
    entry = measured("fraud")
    labels = {True: "fraud", False: "legitimate"}
    assert entry["confusion"] == confusion([(labels[t], labels[p]) for t, p in zip(fraud_truths, flagged, strict=True)],
                                           ("legitimate", "fraud"))
    assert entry["metrics"] == {"precision": round(precision_score(fraud_truths, flagged, zero_division=0), 4),
                                "recall": round(recall_score(fraud_truths, flagged), 4)}
    assert True in flagged and True in fraud_truths  # the examples hold frauds, and the model flags some
    entry = measured("demand")
    errors = [abs(a - f) for a, f in zip(actual, forecast, strict=False)]
    assert entry["count"] == 1 and entry["confusion"] is None
    assert entry["metrics"] == {"mae": round(sum(errors) / 3, 4),
                                "mape": round((errors[0] / actual[0] + errors[2] / actual[2]) / 2, 4)}
    assert entry["held_out"] == {"mape": None, "mae": None}  # the card measures MASE, another figure
    entry = measured("recommend")
    assert (entry["count"], entry["metrics"], entry["confusion"]) == (2, {"hit_rate": 0.5}, None)
    with app.app_context():
        assert held_out("recommend", "v1")["hit_rate"] == extensions.registry(app).card(
            "recommend", "v1")["metrics"]["model_hr@10"]


def test_who_may_give_feedback_and_what_is_refused(make_app):
    app = make_app(FEEDBACK_WAIT_SECONDS=0)
    client = app.test_client()
    with app.app_context():
        ana, bia, admin = (create_key(name, role) for name, role in
                           (("ana", "client"), ("bia", "client"), ("teacher", "admin")))
    mine, _ = predict(client, "sentiment", {"texts": TEXTS[:2]}, ana)
    anonymous, _ = predict(client, "sentiment", {"text": TEXTS[2]})
    fraud_id, _ = predict(client, "fraud", {"transaction": client.get("/api/v1/models/fraud").get_json()
                                            ["example"]["transaction"]}, ana)

    def refused(key, body, status: int, *words: str) -> dict:
        response = give(client, key, body)
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        for word in words:
            assert word in json.dumps(problem), (word, problem)
        return problem

    refused(None, {"request_id": mine, "label": "negative"}, 401, "Authorization: Bearer")
    refused(bia, {"request_id": mine, "label": "negative"}, 403, "only the key that made a prediction")
    refused(ana, {"request_id": anonymous, "label": "negative"}, 403)
    assert given(client, admin, {"request_id": anonymous, "label": "neutral"})["truth"] == {"label": "neutral"}
    refused(ana, {"request_id": "never-answered", "label": "negative"}, 404, "never-answered")
    refused(ana, {"request_id": mine, "position": 2, "label": "negative"}, 404, "from 0 to 1")
    problem = refused(ana, {"request_id": mine, "is_fraud": True}, 422, "'label'", "sentiment")
    assert list(problem["errors"]) == ["is_fraud"]
    problem = refused(ana, {"request_id": mine, "label": "angry"}, 422, "negative, neutral, positive")
    assert list(problem["errors"]) == ["label"]
    refused(ana, {"request_id": fraud_id, "is_fraud": "yes"}, 422, "is_fraud")
    refused(ana, {"request_id": fraud_id, "label": "fraud"}, 422, "'is_fraud'")
    refused(ana, {"request_id": mine}, 422, "exactly one of")
    refused(ana, {"request_id": mine, "label": "negative", "movie_id": 3}, 422, "exactly one of")
    refused(ana, {"request_id": mine, "label": "negative", "items": []}, 422, "not both")
    refused(ana, {"items": [{"request_id": mine, "label": "x"}] * 1001}, 422, "items")
    problem = refused(ana, {"items": [{"request_id": mine, "position": 0, "label": "positive"},
                                      {"request_id": mine, "position": 1, "label": "bad"}]}, 422, "items.1.label")
    assert list(problem["errors"]) == ["items.1.label"]
    with app.app_context():  # a refused batch stores none of its items
        assert db.session.scalars(select(Feedback.key_name)).all() == [None]
        db.session.execute(update(PredictionLog).where(PredictionLog.request_id == mine)
                           .values(at=utc_now() - timedelta(days=31)))
        db.session.commit()
    refused(ana, {"request_id": mine, "label": "negative"}, 404, "more than 30 days ago")


def test_a_second_truth_replaces_the_first(app, client, keys):
    key = keys["ana"]
    request_id, answer = predict(client, "sentiment", {"texts": TEXTS[:3]}, key)
    first = given(client, key, {"request_id": request_id, "position": 1, "label": "negative"})
    second = given(client, key, {"request_id": request_id, "position": 1, "label": "positive"})
    assert (first["replaced"], second["replaced"]) == (False, True)
    twice = given(client, key, {"items": [{"request_id": request_id, "label": "neutral"},
                                          {"request_id": request_id, "label": "positive"}]})
    assert [item["replaced"] for item in twice["items"]] == [False, True]  # the same item twice: the last wins
    [entry] = client.get("/api/v1/models/sentiment/quality").get_json()["versions"]
    assert entry["count"] == 2
    predicted = [result["label"] for result in answer["results"]]
    assert entry["confusion"] == confusion([("positive", predicted[0]), ("positive", predicted[1])], SENTIMENT_LABELS)
    with app.app_context():
        stored = db.session.execute(select(Feedback.position, Feedback.truth, Feedback.given_by)
                                    .order_by(Feedback.position)).all()
    assert [tuple(row) for row in stored] == [(0, '"positive"', "ana"), (1, '"positive"', "ana")]


def test_feedback_waits_for_a_row_another_worker_has_not_written_yet(make_app, tmp_path):
    here, there = make_app(FEEDBACK_WAIT_SECONDS=1.5), make_app()  # two workers of one server, one database
    with here.app_context():
        key = create_key("ana", "client")
    request_id, _ = predict(there.test_client(), "sentiment", {"text": TEXTS[1]}, key)
    threading.Timer(0.3, extensions.prediction_log(there).flush).start()  # its loop writes it a moment later
    started = time.monotonic()
    response = give(here.test_client(), key, {"request_id": request_id, "label": "negative"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert 0.3 <= time.monotonic() - started < 1.5
    started = time.monotonic()
    assert give(here.test_client(), key, {"request_id": "nowhere", "label": "negative"}).status_code == 404
    assert 1.5 <= time.monotonic() - started < 3


def test_the_quality_route(app, client, keys):
    empty = client.get("/api/v1/models/fraud/quality?minutes=60").get_json()
    card = extensions.registry(app).card("fraud", "v1")["metrics"]
    assert empty == {"name": "fraud", "window_minutes": 60, "versions": [
        {"version": "v1", "count": 0, "metrics": {"precision": None, "recall": None}, "confusion": None,
         "held_out": {"precision": card["precision"], "recall": card["recall"]}}]}  # the serving version, always
    assert client.get("/api/v1/models/nothing/quality").status_code == 404
    for minutes in ("0", "525601", "a"):
        assert client.get(f"/api/v1/models/fraud/quality?minutes={minutes}").status_code == 422
    assert client.get("/api/v1/models/fraud/quality?minutes=525600").status_code == 200


def test_live_quality_is_a_gauge_on_metrics(make_app):
    app = make_app(LIVE_QUALITY_CACHE_SECONDS=0)
    client = app.test_client()
    with app.app_context():
        key = create_key("ana", "client")
    request_id, answer = predict(client, "sentiment", {"texts": TEXTS[:4]}, key)
    predicted = [result["label"] for result in answer["results"]]
    wrong = next(label for label in SENTIMENT_LABELS if label != predicted[2])
    truths = [predicted[0], predicted[1], wrong, predicted[3]]  # three right, one wrong
    given(client, key, {"items": [{"request_id": request_id, "position": n, "label": truth}
                                  for n, truth in enumerate(truths)]})
    page = scrape(client)
    labels = {"use_case": "sentiment", "version": "v1"}
    assert value(page, "mlapi_live_quality", metric="accuracy", **labels) == 0.75
    assert value(page, "mlapi_live_quality", metric="macro_f1", **labels) == round(
        f1_score(truths, predicted, average="macro", zero_division=0), 4)
    assert value(page, "mlapi_live_quality_feedback", **labels) == 4
    assert ("mlapi_live_quality", (("metric", "accuracy"), ("use_case", "fraud"), ("version", "v1"))) not in page


@needs_postgres
def test_on_postgresql_upserts_and_an_outage_is_a_503_and_no_500_on_metrics(make_app, postgres_schema):
    proxy = TcpProxy(("127.0.0.1", 5432))
    try:
        app = make_app(DATABASE_URL=postgres_schema.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"),
                       FEEDBACK_WAIT_SECONDS=0, LIVE_QUALITY_CACHE_SECONDS=0)
        client = app.test_client()
        with app.app_context():
            key = create_key("ana", "client")
        request_id, answer = predict(client, "sentiment", {"texts": TEXTS[:2]}, key)
        given(client, key, {"request_id": request_id, "label": "negative"})
        again = given(client, key, {"items": [{"request_id": request_id, "label": "positive"},
                                              {"request_id": request_id, "position": 1, "label": "neutral"},
                                              {"request_id": request_id, "position": 1, "label": "negative"}]})
        assert [item["replaced"] for item in again["items"]] == [True, False, True]
        [entry] = client.get("/api/v1/models/sentiment/quality").get_json()["versions"]
        predicted = [result["label"] for result in answer["results"]]
        assert entry["confusion"] == confusion([("positive", predicted[0]), ("negative", predicted[1])],
                                               SENTIMENT_LABELS)
        assert value(scrape(client), "mlapi_live_quality_feedback", use_case="sentiment", version="v1") == 2
        proxy.kill()
        response = give(client, key, {"request_id": request_id, "label": "neutral"})
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert client.get("/api/v1/models/sentiment/quality").status_code == 503
        assert "mlapi_live_quality" in client.get("/metrics").get_data(as_text=True)  # the last figures read
        proxy.restore()
    finally:
        proxy.close()
        with app.app_context():
            db.engine.dispose()  # let the schema be dropped


def test_feedback_rows_keep_the_prediction_as_logged(app, client, keys):
    request_id, answer = predict(client, "demand", {"series": "1_1", "horizon": 2}, keys["ana"])
    stored = given(client, keys["ana"], {"request_id": request_id, "sales": 1000})
    assert stored["truth"] == {"sales": [1000.0]}  # a number is the first week
    assert stored["predicted"] == [{"date": w["date"], "sales": w["sales"]} for w in answer["forecast"]]
    with app.app_context():
        row = db.session.scalars(select(Feedback)).one()
        assert orjson.loads(row.predicted) == stored["predicted"] and row.weeks == 1
    too_many = give(client, keys["ana"], {"request_id": request_id, "sales": [1, 2, 3]})
    assert too_many.status_code == 422 and "1 to 2 numbers" in too_many.get_json()["detail"]


def test_in_an_outage_the_oldest_held_rows_let_their_outputs_go(app, monkeypatch):
    monkeypatch.setattr(prediction_log, "MAX_HELD_OUTPUTS_BYTES", 100)
    writer = extensions.prediction_log(app)
    rows = [Pending(time.time(), f"r{n}", "sentiment", "v1", None, "api", 200, 0.001, 1, Counter(), None,
                    outputs="x" * 40) for n in range(5)]
    writer.held = [("first", rows[:3]), ("second", rows[3:])]
    writer.shed_outputs()
    kept = [row.outputs is not None for _, batch in writer.held for row in batch]
    assert kept == [False, False, False, True, True] and [len(batch) for _, batch in writer.held] == [3, 2]
    writer.held = []


def test_what_a_client_cannot_make_the_server_do(app, client, keys):
    """Values past what the data can be, ids no answer can have and oversized batches: each a quick 422."""
    demand_id, _ = predict(client, "demand", {"series": "1_1"}, keys["ana"])
    recommend_id, _ = predict(client, "recommend", {"liked": [770828, 1300854]}, keys["ana"])
    for body, field in [({"request_id": recommend_id, "movie_id": 10**400}, "movie_id"),
                        ({"request_id": demand_id, "sales": 10**400}, "sales"),
                        ({"request_id": demand_id, "sales": [1.7e308, 1.7e308]}, "sales"),
                        ({"request_id": "\ud800", "label": "negative"}, "request_id"),
                        ({"request_id": "pg-\u0000", "label": "negative"}, "request_id")]:
        refused = client.post("/api/v1/feedback", data=json.dumps(body), content_type="application/json",
                              headers=auth(keys["ana"]))
        assert refused.status_code == 422 and list(refused.json["errors"]) == [field], refused.json
    many = give(client, keys["ana"], {"items": [{}] * 100_000})
    assert many.status_code == 422 and many.json["errors"] == {"items": ["Longer than maximum length 1000."]}
    assert given(client, keys["ana"], {"request_id": demand_id, "sales": [0.001, 2e6]})["truth"]
    with app.app_context():
        measured = live_quality("demand", utc_now() - WEEK_AGO)
    assert all(value is not None for found in measured.values() for value in found["metrics"].values())

"""The last hour from the prediction log: /monitor, its drift flag, and /api/v1/usage per key."""
import json
import time
from collections import Counter

import pytest
from sqlalchemy import select

from mlapi import extensions
from mlapi.access.keys import create_key
from mlapi.observability.activity import DRIFT_MIN_ITEMS, last_hour
from mlapi.observability.prediction_log import Pending, PredictionLog
from mlapi.observability.traffic import LATENCY_BOUNDS_MS, TrafficMinute, percentile
from mlapi.serving.registry import registry
from mlapi.storage.database import db


def add_rows(app, count: int, minutes_ago: float = 1, **fields) -> None:
    """``count`` logged predictions of one kind, ``minutes_ago`` before now, written as the workers write them."""
    row = {"request_id": "r", "use_case": "sentiment", "version": "v1", "channel": "api", "status": 200,
           "latency_ms": 10.0, "items": 1, "labels": None, "key_name": None, **fields}
    at = time.time() - minutes_ago * 60
    writer = extensions.prediction_log(app)
    for _ in range(count):
        writer.add(Pending(at, row["request_id"], row["use_case"], row["version"], row["key_name"], row["channel"],
                           row["status"], row["latency_ms"] / 1000, row["items"],
                           Counter(json.loads(row["labels"]) if row["labels"] else {}), None))
    writer.flush()


def activity(app, name: str = "sentiment"):
    with app.app_context():
        return next(a for a in last_hour() if a.name == name)


def training_shares(app) -> dict[str, float]:
    with app.app_context():
        return registry.loaded["sentiment"].card["label_shares"]


def test_the_hour_per_use_case(app):
    add_rows(app, 3, minutes_ago=30, latency_ms=10.0)
    add_rows(app, 1, minutes_ago=0, latency_ms=50.0)
    add_rows(app, 2, minutes_ago=0, status=422, latency_ms=1.0)
    add_rows(app, 4, minutes_ago=0, status=503, latency_ms=1.0)
    add_rows(app, 5, minutes_ago=61)  # outside the window
    add_rows(app, 2, use_case="fraud")
    sentiment = activity(app)
    assert (sentiment.requests, sentiment.errors, sentiment.items) == (10, 6, 4)
    assert (sentiment.client_errors, sentiment.server_errors) == (2, 4)  # a student's 422s are not the service's 503s
    assert sentiment.per_minute[29] == 3 and sentiment.per_minute[59] == 7 and sum(sentiment.per_minute) == 10
    assert sentiment.client_failed_per_minute[59] == 2 and sentiment.server_failed_per_minute[59] == 4
    assert 5 < sentiment.p50_ms <= 10 and 20 < sentiment.p95_ms <= 50  # answered requests, within their buckets
    assert sentiment.version == "v1"
    assert activity(app, "fraud").requests == 2


def test_version_switches_are_marked_and_drift_is_the_serving_version_s(app, artifacts):
    import shutil

    shutil.copytree(artifacts / "sentiment" / "v1", artifacts / "sentiment" / "v2")
    add_rows(app, DRIFT_MIN_ITEMS, minutes_ago=5, labels=json.dumps({"positive": 1}))  # v1's, skewed
    with app.app_context():
        registry.activate("sentiment", "v2")
    add_rows(app, 3, minutes_ago=0, version="v2", labels=json.dumps({"negative": 1}))
    promoted = activity(app)
    assert promoted.version == "v2" and [mark["version"] for mark in promoted.marks()] == ["v1", "v2"]  # v1: the start
    assert promoted.marks()[-1]["minutes_ago"] == 1 and promoted.version_items == 3
    assert not promoted.drifting  # v1's skewed hour does not count against v2, which has 3 predictions so far
    assert [c.label for c in promoted.classes if c.now] == ["negative"]
    panel = app.test_client().get("/monitor/panel").get_data(as_text=True)
    assert 'class="switch"' in panel and "v2 activated" in panel and "v2, last hour (3)" in panel


def test_training_distribution_is_in_the_card(app):
    shares = training_shares(app)
    assert set(shares) <= {"negative", "neutral", "positive"}
    assert sum(shares.values()) == pytest.approx(1, abs=1e-3)


def test_drift_is_flagged_on_a_skew(app):
    add_rows(app, DRIFT_MIN_ITEMS, labels=json.dumps({"positive": 1}))
    skewed = activity(app)
    assert skewed.drifting
    assert skewed.drift_distance == pytest.approx(1 - training_shares(app).get("positive", 0), abs=1e-3)
    assert next(c for c in skewed.classes if c.label == "positive").now == 1.0


def test_no_drift_when_the_classes_match_training(app):
    shares = training_shares(app)
    counts = {label: round(share * 200) for label, share in shares.items()}
    add_rows(app, 1, items=sum(counts.values()), labels=json.dumps(counts))
    matching = activity(app)
    assert not matching.drifting and matching.drift_distance < 0.02


def test_too_few_predictions_are_not_flagged(app):
    add_rows(app, DRIFT_MIN_ITEMS - 1, labels=json.dumps({"positive": 1}))
    few = activity(app)
    assert not few.drifting and few.drift_distance > 0.5


def test_monitor_page_and_live_panel(app, client):
    client.post("/api/v1/sentiment", json={"text": "Lovely crew"})
    extensions.prediction_log(app).flush()
    page = client.get("/monitor")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="/static/js/monitor.js"' in html and "<script>" not in html  # served script, none inline
    assert 'id="monitor-sentiment"' in html and "serving v1" in html
    panel = client.get("/monitor/panel").get_data(as_text=True)
    assert "<html" not in panel and 'id="monitor-sentiment"' in panel
    assert "http://" not in panel and "https://" not in panel


@pytest.fixture
def keys(app):
    with app.app_context():
        return {role: create_key(f"{role}-key", role) for role in ("client", "admin")}


def test_usage_per_key(app, client, keys):
    for _ in range(3):
        client.post("/api/v1/sentiment", json={"text": "Nice"}, headers={"X-API-Key": keys["client"]})
    client.post("/api/v1/fraud", json={"transaction": {}}, headers={"X-API-Key": keys["client"]})
    client.post("/api/v1/sentiment", json={"texts": ["a b", "c d"]})
    extensions.prediction_log(app).flush()
    add_rows(app, 5, minutes_ago=120, key_name="client-key")  # outside a 60-minute window
    response = client.get("/api/v1/usage?minutes=60", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["window_minutes"] == 60
    assert body["keys"] == [
        {"key": "client-key", "requests": 4, "errors": 1, "rate_limited": 0, "items": 3,
         "use_cases": {"fraud": 1, "sentiment": 3}},
        {"key": None, "requests": 1, "errors": 0, "rate_limited": 0, "items": 2, "use_cases": {"sentiment": 1}},
    ]
    wider = client.get("/api/v1/usage?minutes=180", headers={"X-API-Key": keys["admin"]}).get_json()
    assert wider["keys"][0]["requests"] == 9


def test_usage_is_for_admins_with_a_valid_window(client, keys):
    assert client.get("/api/v1/usage").status_code == 401
    assert client.get("/api/v1/usage", headers={"X-API-Key": keys["client"]}).status_code == 403
    refused = client.get("/api/v1/usage?minutes=0", headers={"X-API-Key": keys["admin"]})
    assert refused.status_code == 422 and "minutes" in refused.get_json()["errors"]
    assert client.get("/api/v1/usage?minutes=x", headers={"X-API-Key": keys["admin"]}).status_code == 422


def test_metrics_are_never_rate_limited_the_live_view_is_like_pages(make_app):
    client = make_app(RATELIMIT_PAGES="2/minute").test_client()
    for _ in range(3):
        assert client.get("/metrics").status_code == 200
    assert [client.get(path).status_code for path in ("/monitor", "/monitor/panel", "/sentiment")] == [200, 200, 429]


def test_429s_come_from_the_metrics_and_leave_no_rows(make_app):
    app = make_app(RATELIMIT_ANONYMOUS="1/minute")
    client = app.test_client()
    before = activity(app).rate_limited
    statuses = [client.post("/api/v1/sentiment", json={"text": "hi"}).status_code for _ in range(4)]
    assert statuses == [200, 429, 429, 429]
    extensions.held_counts(app).flush()
    assert activity(app).rate_limited == before + 3
    with app.app_context():
        extensions.prediction_log(app).flush()
        assert [row.status for row in db.session.scalars(select(PredictionLog))] == [200]


def test_the_summary_is_bounded_and_cached(make_app):
    app = make_app(MONITOR_CACHE_SECONDS=60)
    add_rows(app, 3, labels=json.dumps({"positive": 1}))
    client = app.test_client()
    assert 'id="monitor-sentiment"' in client.get("/monitor/panel").get_data(as_text=True)
    add_rows(app, 1000, labels=json.dumps({"negative": 1}))
    with app.app_context():
        cached, _ = extensions.monitor_summary(app).get()
    assert next(a for a in cached if a.name == "sentiment").requests == 3  # the same summary for a minute
    assert activity(app).requests == 1003


def test_a_minute_is_one_row_per_worker_updated_in_place(app):
    add_rows(app, 3, minutes_ago=0)
    add_rows(app, 2, minutes_ago=0, status=422)
    with app.app_context():
        [row] = db.session.scalars(select(TrafficMinute).where(TrafficMinute.use_case == "sentiment")).all()
        assert (row.requests, row.errors, row.items) == (5, 2, 3)


def test_percentiles_are_interpolated_within_their_bucket():
    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    assert percentile(counts, 0.5) is None
    counts[LATENCY_BOUNDS_MS.index(10)] = 10  # ten requests between 5 and 10 ms
    assert percentile(counts, 0.5) == 7.5 and percentile(counts, 1.0) == 10
    counts[-1] = 10  # and ten over the last bound
    assert percentile(counts, 0.95) == LATENCY_BOUNDS_MS[-1]


def test_an_admin_s_page_session_lists_each_key_s_hour_others_are_told_how(app):
    with app.app_context():
        student, admin = create_key("turma-07", "client"), create_key("teacher", "admin")
    client = app.test_client()
    client.post("/api/v1/sentiment", json={"text": "ok"}, headers={"Authorization": f"Bearer {student}"})
    client.post("/api/v1/sentiment", json={"tweet": "ok"}, headers={"Authorization": f"Bearer {student}"})
    extensions.prediction_log(app).flush()
    anonymous = client.get("/monitor").get_data(as_text=True)
    assert "turma-07" not in anonymous and "With an admin key entered" in anonymous
    teacher = app.test_client()
    page = teacher.get("/monitor", headers={"Authorization": f"Bearer {admin}"}).get_data(as_text=True)
    row = page.split("turma-07</td>")[1].split("</tr>")[0]
    assert "Each key, last hour" in page and row.startswith("<td>2</td><td>1</td>")  # 2 requests, 1 error

"""Alerts (issue 27): rules from the CLI and the API, judged from the prediction log by one process a round,
stored, shown on /monitor, counted in /metrics and sent signed to webhooks that may be down."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from mlapi import create_app, extensions
from mlapi.access.keys import create_key
from mlapi.alerts.rules import AlertEvent, AlertRule, Known, add, make_rule, parse_condition, parse_duration
from mlapi.storage.database import db
from tests.conftest import needs_postgres, release
from tests.servers import ROOT, free_port, gunicorn, reachable, request

SECRET = "s3cret-for-tests"
SENTIMENT = Known({"sentiment": {"negative", "neutral", "positive"}}, {"sentiment": ("accuracy", "macro_f1")})
COMPLAINTS = ["Worst airline ever, lost my bag and nobody helps", "Delayed again, rude staff, never flying you again",
              "Cancelled flight and no refund, terrible service", "Stuck on the tarmac for hours, awful"]


class Receiver:
    """A webhook receiver on 127.0.0.1: what it was sent, and whether each signature verified."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bool]] = []
        self.arrived: list[float] = []  # time.monotonic() of each
        received, arrived = self.received, self.arrived

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                received.append((json.loads(body), hmac.compare_digest(expected, self.headers["X-Mlapi-Signature"])))
                arrived.append(time.monotonic())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, seconds: float = 10) -> list[tuple[dict, bool]]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def admin(app) -> dict:
    with app.app_context():
        return {"Authorization": f"Bearer {create_key('ops', 'admin')}"}


def evaluate(app) -> list[dict]:
    """One round, as the process that won it runs it (the log flushed first, as its loop would have)."""
    extensions.prediction_log(app).flush()
    with app.app_context():
        return extensions.alert_evaluator(app).evaluate()


def events(app) -> list[AlertEvent]:
    with app.app_context():
        found = db.session.scalars(select(AlertEvent).order_by(AlertEvent.id)).all()
        db.session.expunge_all()
        return found


# Rules


@pytest.mark.parametrize("text", ["share(negative) > 0.4", "error_rate>=0.05", " p95_ms > 250 ", "drift >= 0.2",
                                  "quality(accuracy) < 0.8", "version_mismatch > 0", "rate_limited > 0.1",
                                  "error_rate > 0.00001", "p95_ms > 1234567", "drift > 0.123456789"])
def test_conditions_read_signal_op_number_and_are_stored_as_they_read_back(text):
    condition = parse_condition(text)
    assert parse_condition(str(condition)) == condition


@pytest.mark.parametrize("text", ["share > 0.4", "error_rate(x) > 1", "latency > 3", "share(negative) = 0.4",
                                  "share(negative) > lots", "", "drop table", "error_rate > 1e999",
                                  "share(negative) > " + "9" * 400, "p95_ms > \u0661\u0662",
                                  "share(" + "a" * 300 + ") > 1"])
def test_other_conditions_are_refused_with_the_syntax(text):
    with pytest.raises(ValueError, match="SIGNAL OP NUMBER"):
        parse_condition(text)


def test_durations():
    assert [parse_duration(text) for text in ("30s", "10m", "2h", "1d", "15")] == [30, 600, 7200, 86400, 900]
    for wrong in ("0s", "8d", "ten", "-5m", "\u0663m", "9" * 5000 + "m"):
        with pytest.raises(ValueError):
            parse_duration(wrong)


def test_the_cli_adds_lists_loads_and_removes_rules(app):
    runner = app.test_cli_runner()
    added = runner.invoke(args=["alerts", "add", "complaints", "--use-case", "sentiment", "--when",
                                "share(negative) > 0.4", "--window", "10m", "--min-count", "50"])
    assert added.exit_code == 0, added.output
    assert "sentiment: share(negative) > 0.4 over 10m (at least 50), cool-down 30m" in added.output
    again = runner.invoke(args=["alerts", "add", "complaints", "--when", "error_rate > 0.1"])
    assert again.exit_code == 1 and "exists already" in again.output
    wrong = runner.invoke(args=["alerts", "add", "x", "--use-case", "sentiment", "--when", "quality(recall) < 1"])
    assert wrong.exit_code == 1 and "quality() takes a live metric of the use case: accuracy, macro_f1" in wrong.output
    typo = runner.invoke(args=["alerts", "add", "x", "--use-case", "sentiment", "--when", "share(negatve) > 0.4"])
    assert typo.exit_code == 1
    assert "share() takes a class the use case predicts: negative, neutral, positive" in typo.output
    for _ in range(2):  # loading twice leaves the rules as they are
        loaded = runner.invoke(args=["alerts", "load", str(ROOT / "examples" / "alert_rules.json")])
        assert loaded.exit_code == 0, loaded.output
    listed = runner.invoke(args=["alerts", "list"]).output
    example = json.loads((ROOT / "examples" / "alert_rules.json").read_text())
    assert all(rule["name"] in listed for rule in example) and "complaints" in listed
    assert re.search(r"\ncomplaints +sentiment +10m +50 +30m  share\(negative\) > 0\.4\n", listed)
    assert {rule["use_case"] for rule in example} == {"sentiment", "xray", "fraud", "demand", "recommend", "all"}
    assert runner.invoke(args=["alerts", "remove", "complaints"]).exit_code == 0
    assert "complaints" not in runner.invoke(args=["alerts", "list"]).output
    assert runner.invoke(args=["alerts", "remove", "complaints"]).exit_code == 1


def test_the_api_manages_rules_for_an_admin_only(app, client):
    headers = admin(app)
    rule = {"name": "complaints", "use_case": "sentiment", "condition": "share(negative) > 0.4", "min_count": 50}
    assert client.post("/api/v1/alerts/rules", json=rule).status_code == 401
    with app.app_context():
        student = create_key("student", "client")
    assert client.get("/api/v1/alerts/rules", headers={"X-API-Key": student}).status_code == 403
    made = client.post("/api/v1/alerts/rules", json=rule, headers=headers)
    assert made.status_code == 201 and made.json == {"name": "complaints", "use_case": "sentiment",
                                                     "condition": "share(negative) > 0.4", "window_seconds": 600,
                                                     "min_count": 50, "cooldown_seconds": 1800}
    assert client.post("/api/v1/alerts/rules", json=rule, headers=headers).status_code == 409
    refused = client.post("/api/v1/alerts/rules", json={**rule, "name": "x", "condition": "negative > 40%"},
                          headers=headers)
    assert refused.status_code == 422 and "SIGNAL OP NUMBER" in refused.json["detail"]
    for wrong, field in (({"use_case": "weather"}, "use_case"), ({"window": "ten"}, "window"),
                         ({"cooldown": True}, "cooldown"), ({"min_count": 0}, "min_count"), ({"name": "a/b"}, "name")):
        refused = client.post("/api/v1/alerts/rules", json={**rule, "name": "y", **wrong}, headers=headers)
        assert refused.status_code == 422 and list(refused.json["errors"]) == [field], refused.json
    minutes = client.post("/api/v1/alerts/rules", json={**rule, "name": "z", "window": 15}, headers=headers)
    assert minutes.status_code == 201 and minutes.json["window_seconds"] == 900
    assert client.delete("/api/v1/alerts/rules/z", headers=headers).status_code == 200
    assert [r["name"] for r in client.get("/api/v1/alerts/rules", headers=headers).json["rules"]] == ["complaints"]
    assert client.delete("/api/v1/alerts/rules/complaints", headers=headers).status_code == 200
    assert client.delete("/api/v1/alerts/rules/complaints", headers=headers).status_code == 404
    assert client.get("/api/v1/alerts", headers=headers).json == {"alerts": []}


# Evaluation


def test_a_rule_that_cannot_be_read_back_does_not_stop_the_others(app, client):
    with app.app_context():
        db.session.add(AlertRule(name="old", use_case="sentiment", condition="error_rate > 1e-05 junk",
                                 window_seconds=60, min_count=1, cooldown_seconds=60, created_at=datetime(2026, 1, 1)))
        db.session.add(make_rule("any-error", "sentiment", "error_rate > 0.5", "1m", 1, "1h", known=SENTIMENT,
                                 now=datetime(2026, 1, 1)))
        db.session.commit()
        assert not add(make_rule("any-error", None, "drift > 0.3", known=SENTIMENT, now=datetime(2026, 1, 1)))
    assert client.post("/api/v1/sentiment", json={"text": ""}).status_code == 422
    assert [alert["rule"] for alert in evaluate(app)] == ["any-error"]


def test_one_process_wins_each_round(make_app):
    first, second = make_app(), make_app()  # two apps on one database: two workers, or two instances
    with first.app_context():
        won_first = extensions.alert_evaluator(first).claim(42)
    with second.app_context():
        won_second = extensions.alert_evaluator(second).claim(42)
        won_next = extensions.alert_evaluator(second).claim(43)
    assert (won_first, won_second, won_next) == (True, False, True)


def test_a_wave_of_complaints_fires_once_is_sent_signed_and_resolves(make_app, receiver):
    app = make_app(ALERT_WEBHOOKS=f"{receiver.url} slack:{receiver.url}", ALERT_WEBHOOK_SECRET=SECRET)
    client = app.test_client()
    with app.app_context():
        make = make_rule("complaints", "sentiment", "share(negative) > 0.4", "2s", 20, "1h",
                         known=SENTIMENT, now=datetime(2026, 1, 1))
        db.session.add(make)
        db.session.commit()
    assert evaluate(app) == []  # no traffic: nothing to judge
    answers = client.post("/api/v1/sentiment", json={"texts": COMPLAINTS * 6}).json["results"]
    negative = sum(answer["label"] == "negative" for answer in answers) / len(answers)
    assert negative > 0.4  # what the rule watches for, as the model answered
    [fired] = evaluate(app)
    assert fired["event"] == "fired" and fired["rule"] == "complaints" and fired["value"] == pytest.approx(negative)
    assert evaluate(app) == []  # still holding: no second alert
    [(own, verified), (slack, slack_verified)] = sorted(receiver.wait_for(2), key=lambda got: "text" in got[0])
    assert verified and own["event"] == "fired" and own["condition"] == "share(negative) > 0.4" and own["firing"]
    assert slack_verified and "complaints" in slack["text"]
    page = client.get("/monitor").get_data(as_text=True)
    assert 'class="alert-banner"' in page and "complaints" in page
    assert 'mlapi_alerts_fired_total{rule="complaints",use_case="sentiment"} 1.0' in client.get("/metrics").text
    time.sleep(2.1)  # the window passes with no traffic
    [resolved] = evaluate(app)
    assert resolved["event"] == "resolved" and resolved["resolved_at"] and not resolved["firing"]
    [event] = events(app)
    assert event.resolved_at is not None and event.value == pytest.approx(negative)
    assert 'class="alert-banner"' not in client.get("/monitor").get_data(as_text=True)
    client.post("/api/v1/sentiment", json={"texts": COMPLAINTS * 6})
    assert evaluate(app) == []  # holds again, but within the cool-down
    listed = client.get("/api/v1/alerts", headers=admin(app)).json["alerts"]
    assert [alert["rule"] for alert in listed] == ["complaints"] and listed[0]["firing"] is False


def test_removing_a_firing_rule_resolves_its_alert_and_says_so(make_app, receiver):
    app = make_app(ALERT_WEBHOOKS=receiver.url, ALERT_WEBHOOK_SECRET=SECRET)
    client = app.test_client()
    with app.app_context():
        db.session.add(make_rule("any-error", "sentiment", "error_rate > 0.5", "1m", 1, "1h", known=SENTIMENT,
                                 now=datetime(2026, 1, 1)))
        db.session.commit()
    assert client.post("/api/v1/sentiment", json={"text": ""}).status_code == 422
    [fired] = evaluate(app)
    removed = client.delete("/api/v1/alerts/rules/any-error", headers=admin(app))
    assert removed.status_code == 200 and removed.json["name"] == "any-error"
    [(first, _), (second, verified)] = receiver.wait_for(2)
    assert (first["event"], second["event"], second["id"], verified) == ("fired", "resolved", fired["id"], True)
    assert not events(app)[0].as_dict()["firing"]


def test_a_receiver_that_is_down_delays_nothing(make_app):
    app = make_app(ALERT_WEBHOOKS=f"http://127.0.0.1:{free_port()}/down", ALERT_WEBHOOK_SECRET=SECRET)
    client = app.test_client()
    with app.app_context():
        db.session.add(make_rule("any-error", "sentiment", "error_rate > 0.5", "1m", 3, "1h",
                                 known=SENTIMENT, now=datetime(2026, 1, 1)))
        db.session.commit()
    for _ in range(4):
        assert client.post("/api/v1/sentiment", json={"text": ""}).status_code == 422
    evaluator = extensions.alert_evaluator(app)
    sending = []
    original = evaluator.deliveries.send
    evaluator.deliveries.send = lambda alert: sending.extend(original(alert)) or sending
    [fired] = evaluate(app)  # returns while the delivery still retries in its own thread
    assert fired["value"] == 1.0 and sending and sending[0].is_alive()
    assert client.post("/api/v1/sentiment", json={"text": "fine flight"}).status_code == 200


def test_rate_limited_and_version_mismatch(make_app):
    app = make_app(RATELIMIT_ANONYMOUS="2/minute")
    client = app.test_client()
    with app.app_context():
        for name, condition in (("throttled", "rate_limited > 0.5"), ("stale", "version_mismatch > 0")):
            db.session.add(make_rule(name, "sentiment", condition, "1m", 3, "1h", known=SENTIMENT,
                                     now=datetime(2026, 1, 1)))
        db.session.commit()
    statuses = [client.post("/api/v1/sentiment", json={"text": "ok"}).status_code for _ in range(8)]
    assert statuses.count(429) == 6
    assert [alert["rule"] for alert in evaluate(app)] == ["throttled"]  # 6 of 8 refused; the version is the active one
    with app.app_context():
        registry = extensions.registry(app)
        registry.loaded["sentiment"] = replace(registry.loaded["sentiment"], version="v0")  # a worker left behind
    assert [alert["rule"] for alert in evaluate(app)] == ["stale"]


def test_a_live_quality_floor_fires_on_feedback_and_monitor_shows_the_figure(app, client):
    headers = admin(app)
    answered = client.post("/api/v1/sentiment", json={"texts": COMPLAINTS * 3}, headers=headers)
    wrong = {"negative": "positive", "neutral": "negative", "positive": "negative"}
    items = [{"request_id": answered.headers["X-Request-ID"], "position": position, "label": wrong[result["label"]]}
             for position, result in enumerate(answered.json["results"])]
    assert client.post("/api/v1/feedback", json={"items": items}, headers=headers).status_code == 200
    with app.app_context():
        db.session.add(make_rule("accuracy-floor", "sentiment", "quality(accuracy) < 0.5", "1h", 10, "1h",
                                 known=SENTIMENT, now=datetime(2026, 1, 1)))
        db.session.commit()
    [fired] = evaluate(app)
    assert fired["rule"] == "accuracy-floor" and fired["value"] == 0.0  # every truth disagreed
    panel = client.get("/monitor/panel").get_data(as_text=True)
    assert "Live quality (12 labels, last 24 h):" in panel and "accuracy <strong>0</strong>" in panel


# Real servers: two instances of two workers each, on PostgreSQL and Redis


@needs_postgres
@pytest.mark.skipif(not reachable("127.0.0.1", 6379), reason="no Redis on 127.0.0.1:6379 (start one to run this test)")
def test_two_instances_fire_a_rule_once_and_resolve_it(artifacts, tmp_path, postgres_schema, receiver):
    import redis

    prefix = f"mlapi-test-{uuid.uuid4().hex}"
    settings = {"ARTIFACTS_DIR": artifacts, "DATABASE_URL": postgres_schema, "LOG_LEVEL": "WARNING",
                "RATELIMIT_STORAGE": "redis://127.0.0.1:6379/0", "RATELIMIT_KEY_PREFIX": prefix,
                "ALERTS_EVERY_SECONDS": 1, "ALERT_WEBHOOKS": receiver.url, "ALERT_WEBHOOK_SECRET": SECRET}
    rule = {"name": "complaints", "use_case": "sentiment", "condition": "share(negative) > 0.4", "window": "4s",
            "min_count": 20, "cooldown": "1h"}
    try:
        with gunicorn(settings, workers=2) as first, gunicorn(settings, workers=2) as second:
            app = create_app({**settings, "SYNC_SECONDS": 0, "ALERTS_EVERY_SECONDS": 0})
            with app.app_context():
                key = create_key("ops", "admin")
            headers = {"Authorization": f"Bearer {key}"}
            assert request(first, "POST", "/api/v1/alerts/rules", rule, headers)[0] == 201
            labels, enough_at = [], None
            for round_ in range(12):  # three seconds of complaints through both instances and all their workers
                _, _, answer = request((first, second)[round_ % 2], "POST", "/api/v1/sentiment",
                                       {"texts": COMPLAINTS * 2})
                labels += [result["label"] for result in answer["results"]]
                if enough_at is None and len(labels) >= rule["min_count"]:
                    enough_at = time.monotonic()
                time.sleep(0.25)
            assert labels.count("negative") / len(labels) > 0.4  # what the rule watches for, as the model answered
            [(fired, verified)] = receiver.wait_for(1, seconds=6)
            assert verified and fired["event"] == "fired" and fired["rule"] == "complaints"
            assert receiver.arrived[0] - enough_at < 1 + 2 + 2  # the log's flush, two rounds, and slack for CI
            [(_, _), (resolved, resolved_verified)] = receiver.wait_for(2, seconds=12)  # the stream stopped
            assert resolved_verified and resolved["event"] == "resolved" and resolved["id"] == fired["id"]
            time.sleep(2)  # more rounds: nothing else is sent
            listed = request(second, "GET", "/api/v1/alerts", headers=headers)[2]["alerts"]
            release(app)
        assert len(receiver.received) == 2 and len(listed) == 1 and not listed[0]["firing"]
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379, db=0)
        leftovers = list(client.scan_iter(match=f"*{prefix}*"))
        if leftovers:
            client.delete(*leftovers)

"""The prediction log: one row per prediction, never the input; retention; the request log line."""
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from mlapi import extensions
from mlapi.access.keys import create_key
from mlapi.observability.activity import last_hour
from mlapi.observability.prediction_log import PredictionLog, utc_now
from mlapi.storage.database import db
from tests.conftest import needs_postgres

SECRET_TEXT = "My card 4111 1111 1111 1111 was charged twice, call me on 555-0100"


def logged(app) -> list[PredictionLog]:
    extensions.prediction_log(app).flush()
    with app.app_context():
        rows = db.session.scalars(select(PredictionLog).order_by(PredictionLog.id)).all()
        db.session.expunge_all()
        return rows


def test_a_prediction_writes_one_row_without_the_input(app, client):
    with app.app_context():
        key = create_key("lab-3", "client")
    response = client.post("/api/v1/sentiment", json={"text": SECRET_TEXT}, headers={"X-API-Key": key})
    [row] = logged(app)
    answer = response.get_json()
    assert (row.use_case, row.version, row.key_name, row.channel) == ("sentiment", "v1", "lab-3", "api")
    assert (row.status, row.items) == (200, 1)
    assert row.labels == f'{{"{answer["label"]}":1}}' and row.score == answer["score"]
    assert row.request_id == response.headers["X-Request-ID"]
    assert row.latency_ms > 0
    stored = " ".join(str(getattr(row, column.name)) for column in PredictionLog.__table__.columns)
    for piece in ("4111 1111", "555-0100", "charged twice", "My card"):  # nothing a number could contain by chance
        assert piece not in stored


def test_batches_pages_and_refusals_are_logged_reads_are_not(app, client):
    client.post("/api/v1/fraud", json={"transactions": []})  # 422
    client.post("/api/v1/sentiment", json={"texts": ["Great crew", "Awful delay", "Lost bag"]})
    client.post("/sentiment", data={"text": "Thank you"})
    client.get("/sentiment")  # a page view predicts nothing
    client.get("/api/v1/movies?q=iron")  # a read, not a prediction
    rows = logged(app)
    assert [(r.use_case, r.channel, r.status, r.items) for r in rows] == [
        ("fraud", "api", 422, 0), ("sentiment", "api", 200, 3), ("sentiment", "page", 200, 1)]
    assert rows[0].key_name is None  # anonymous
    assert sum(json.loads(rows[1].labels).values()) == 3


def test_requests_refused_before_the_model_leave_no_row(make_app):
    app = make_app(RATELIMIT_ANONYMOUS="6/minute")
    client = app.test_client()
    client.post("/api/v1/sentiment", json={"text": "hi"}, headers={"X-API-Key": "mlapi_nope_nope"})  # 401
    client.post("/api/v1/sentiment", data="text", headers={"Content-Type": "text/plain"})  # 415
    client.post("/api/v1/sentiment", data="{not json", headers={"Content-Type": "application/json"})  # 400
    client.post("/api/v1/sentiment", json={"text": "x" * (7 * 1024 * 1024)})  # 413
    client.post("/api/v1/sentiment", json={"tweet": "hi"})  # 422: the schema was asked
    client.post("/api/v1/sentiment", json={"text": "hi"})  # 200
    assert client.post("/api/v1/sentiment", json={"text": "hi"}).status_code == 429
    assert [row.status for row in logged(app)] == [422, 200]
    extensions.held_counts(app).flush()
    exposed = client.get("/metrics").get_data(as_text=True)
    for status in (401, 415, 400, 413):  # still counted in the metrics
        assert f'endpoint="/api/v1/sentiment",method="POST",status="{status}"' in exposed


def test_rows_past_retention_are_pruned(make_app):
    app = make_app(LOG_RETENTION_DAYS=7)
    now = utc_now()
    with app.app_context():
        for age in (timedelta(days=8), timedelta(days=6), timedelta(minutes=1)):
            db.session.add(PredictionLog(at=now - age, request_id="r", use_case="sentiment", version="v1",
                                         channel="api", status=200, latency_ms=1.0, items=1))
        db.session.commit()
        assert extensions.prediction_log(app).prune() == 1
        ages = sorted(now - at for at in db.session.scalars(select(PredictionLog.at)))
    assert ages[-1] < timedelta(days=7) and len(ages) == 2


def test_the_loop_prunes_once_an_hour(make_app):
    app = make_app(LOG_RETENTION_DAYS=7)
    writer = extensions.prediction_log(app)

    def add_old_row():
        with app.app_context():
            db.session.add(PredictionLog(at=utc_now() - timedelta(days=8), request_id="old", use_case="sentiment",
                                         channel="api", status=200, latency_ms=1.0, items=1))
            db.session.commit()

    def rows() -> int:
        with app.app_context():
            return len(db.session.scalars(select(PredictionLog.id)).all())

    add_old_row()
    writer.each_round()
    assert rows() == 0
    add_old_row()
    writer.each_round()  # pruned less than an hour ago: not again yet
    assert rows() == 1


@pytest.mark.parametrize("headers, key_name", [({}, "anonymous"), ("client", "lab-3")])
def test_one_log_line_per_request(app, client, caplog, headers, key_name):
    if headers == "client":
        with app.app_context():
            headers = {"Authorization": f"Bearer {create_key('lab-3', 'client')}"}
    with caplog.at_level(logging.INFO, logger="mlapi.requests"):
        client.post("/api/v1/sentiment", json={"text": SECRET_TEXT}, headers={**headers, "X-Request-ID": "req-42"})
        extensions.access_log(app).flush()
    [line] = [record.getMessage() for record in caplog.records if record.name == "mlapi.requests"]
    for part in ("request_id=req-42", f"key={key_name}", "use_case=sentiment", "version=v1", "status=200", "ms="):
        assert part in line
    assert "4111 1111" not in line and "charged" not in line


@needs_postgres
def test_the_log_and_its_summaries_in_postgresql(make_app, postgres_schema):
    app = make_app(DATABASE_URL=postgres_schema)
    client = app.test_client()
    with app.app_context():
        admin = create_key("teacher", "admin")
    client.post("/api/v1/sentiment", json={"texts": ["Great crew", "Awful delay"]})
    [row] = logged(app)
    assert (row.use_case, row.status, row.items) == ("sentiment", 200, 2)
    with app.app_context():
        sentiment = next(a for a in last_hour() if a.name == "sentiment")
    assert sentiment.requests == 1 and sentiment.items == 2
    usage = client.get("/api/v1/usage", headers={"X-API-Key": admin}).get_json()
    assert usage["keys"] == [{"key": None, "requests": 1, "errors": 0, "rate_limited": 0, "items": 2,
                              "use_cases": {"sentiment": 1}}]
    with app.app_context():
        db.session.add(PredictionLog(at=utc_now() - timedelta(days=40), request_id="old", use_case="sentiment",
                                     channel="api", status=200, latency_ms=1.0, items=1))
        db.session.commit()
        assert extensions.prediction_log(app).prune() == 1
    extensions.key_usage(app).flush()
    with app.app_context():
        db.engine.dispose()  # let the schema be dropped

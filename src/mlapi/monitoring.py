"""What every prediction leaves behind: Prometheus metrics and a row in the prediction log.

One ``after_request`` hook sees every response. Each is counted by route, method and
status; a prediction (a POST to a use case's API, or a page that predicted) also adds
its latency, its predicted classes and a row to the prediction log. The row holds
time, use case, version, key name, channel, status, latency, item count, predicted
classes and score: never the input, which can be personal data.

Rows are kept in memory and written once a second per worker in one insert, so a
request never waits for the database. Rows older than ``LOG_RETENTION_DAYS`` are
deleted once an hour.
"""
from __future__ import annotations

import atexit
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import DateTime, Float, Integer, String, delete, insert
from sqlalchemy.orm import Mapped, mapped_column

from mlapi import metrics
from mlapi.auth import ANONYMOUS
from mlapi.background import ProcessLoop
from mlapi.extensions import db
from mlapi.registry import registry

PRUNE_EVERY_SECONDS = 3600


class PredictionLog(db.Model):
    """One prediction request: who, which model, how it went; never the input."""

    __tablename__ = "prediction_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC, naive
    request_id: Mapped[str] = mapped_column(String(128))
    use_case: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(32))
    key_name: Mapped[str | None] = mapped_column(String(64))  # None: anonymous
    channel: Mapped[str] = mapped_column(String(8))  # "api" or "page"
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    items: Mapped[int] = mapped_column(Integer)
    labels: Mapped[str | None] = mapped_column(String(512))  # JSON {class: count}
    score: Mapped[float | None] = mapped_column(Float)  # the score of one item, the mean of a batch


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class LogWriter:
    """Buffers this process's log rows; :meth:`flush` writes them and prunes old ones."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pending: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.retention = timedelta(days=float(app.config["LOG_RETENTION_DAYS"]))
        self.pruned_at = 0.0
        self.loop = ProcessLoop("mlapi-prediction-log", app.config["LOG_FLUSH_SECONDS"], self.flush)
        atexit.register(self.flush)

    def add(self, row: dict[str, Any]) -> None:
        self.loop.ensure_started()
        with self.lock:
            self.pending.append(row)

    def flush(self) -> None:
        """Write the pending rows in one insert; once an hour, delete rows past retention."""
        with self.lock:
            rows, self.pending = self.pending, []
        with self.app.app_context():
            if rows:
                db.session.execute(insert(PredictionLog), rows)
                db.session.commit()
            if time.monotonic() - self.pruned_at >= PRUNE_EVERY_SECONDS:
                self.prune()

    def prune(self) -> int:
        """Delete rows older than the retention period; how many went."""
        self.pruned_at = time.monotonic()
        gone = db.session.execute(delete(PredictionLog).where(PredictionLog.at < utc_now() - self.retention))
        db.session.commit()
        return gone.rowcount


def is_prediction() -> bool:
    """A POST to a use case's API (whatever the answer), or a page that called predict."""
    if request.blueprint not in registry.use_cases:
        return False
    return g.get("predicting") is not None or (request.method == "POST" and request.path.startswith("/api/"))


def outcome_of(results: list[dict], name: str) -> tuple[Counter, float | None]:
    """The predicted classes of ``results`` counted, and their mean score."""
    describe = registry.use_cases[name].outcome
    described = [describe(result) for result in results]
    classes = Counter(label for label, _ in described if label is not None)
    scores = [score for _, score in described if score is not None]
    return classes, (sum(scores) / len(scores) if scores else None)


def record(response: Response) -> Response:
    """Count the response; for a prediction, observe it and queue its log row."""
    endpoint = request.url_rule.rule if request.url_rule else "(unmatched)"
    metrics.requests_total.labels(endpoint, request.method, response.status_code).inc()
    caller = g.get("caller", ANONYMOUS)
    if response.status_code == 429:
        metrics.rate_limited_total.labels(request.blueprint or "-", caller.role).inc()
    if not is_prediction():
        return response
    name = request.blueprint
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    model, results = g.get("model"), g.get("results", [])
    serving = registry.loaded.get(name)
    version = model["version"] if model else serving.version if serving else None
    classes, score = outcome_of(results, name)
    if model:
        metrics.prediction_seconds.labels(name, version).observe(seconds)
        for label, count in (classes or {"-": len(results)}).items():
            metrics.predictions_total.labels(name, version, label).inc(count)
    current_app.extensions["prediction_log"].add({
        "at": utc_now(), "request_id": g.get("request_id", ""), "use_case": name, "version": version,
        "key_name": caller.name, "channel": "api" if request.path.startswith("/api/") else "page",
        "status": response.status_code, "latency_ms": round(seconds * 1000, 3), "items": len(results),
        "labels": json.dumps(classes, separators=(",", ":")) if classes else None, "score": score,
    })
    return response


def init_app(app: Flask) -> LogWriter:
    writer = LogWriter(app)
    app.extensions["prediction_log"] = writer
    if app.config["MONITORING_ENABLED"]:
        app.after_request(record)
    return writer

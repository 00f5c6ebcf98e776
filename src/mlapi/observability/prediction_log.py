"""What every prediction leaves behind: Prometheus metrics and a row in the prediction log.

One ``after_request`` hook sees every response. Each is counted by route, method and
status; a prediction (a POST to a use case's API, or a page that predicted) also adds
its latency, its predicted classes and a row to the prediction log. A request refused
before any model was asked (401, 413, 415, 429, a body that is not JSON, ...) is only
counted (a 429 also in the minute's tally, for the alerts): an anonymous flood of refusals must not grow
the log that ``/monitor`` reads. The row holds
time, use case, version, key name, channel, status, latency, item count, predicted
classes and score, and what each answered item predicted (``outputs``: what the use case's ``kept``
takes of a result, so that feedback can say how right it was): never the input, which can be personal data.

A request only appends a tuple of what it already knows and counts into plain dicts; once
a second a background loop per worker adds the counts to the Prometheus metrics
(:class:`metrics.HeldCounts`) and turns the tuples into rows, written in one insert, so a
request never waits for the database. A tuple carries the request's list of results as it is; the
loop makes ``outputs`` of it, so a request pays nothing for that. Rows older than
``LOG_RETENTION_DAYS`` are deleted once an hour. While the database is away the rows wait in memory
(at most ``MAX_HELD_LOG_ROWS`` per worker: beyond that the oldest are dropped, counted in
``mlapi_dropped_log_rows_total`` and logged once; past ``MAX_HELD_OUTPUTS_BYTES`` of outputs, the
oldest rows are kept without theirs) and are written in order when it answers. Each batch of rows
carries an id recorded in the same transaction, so a write retried after a commit whose answer was
lost is not applied twice.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from flask import Flask, Request, Response, current_app, request
from sqlalchemy import DateTime, Float, Integer, String, Text, delete, exc, insert, text
from sqlalchemy.orm import Mapped, mapped_column

from mlapi import extensions
from mlapi.observability import metrics
from mlapi.observability.traffic import Tallies, TrafficMinute
from mlapi.storage.background import Buffer
from mlapi.storage.database import db
from mlapi.storage.outages import (
    BACKGROUND_DEADLINE_SECONDS,
    deadline,
    forget_written_batches,
    is_outage,
    not_yet_written,
)
from mlapi.usecase import UseCase

if TYPE_CHECKING:
    from mlapi.request_path import RequestState

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 3600
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}  # any other is counted as "other"
MAX_HELD_OUTPUTS_BYTES = 64 * 1024 * 1024  # outputs held per worker in an outage (a batch of 1,000 texts: 36 KB)
REFUSED_BEFORE_THE_MODEL = frozenset({400, 401, 403, 404, 405, 408, 411, 413, 414, 415, 429, 431})


class PredictionLog(db.Model):
    """One prediction request: who, which model, how it went; never the input."""

    __tablename__ = "prediction_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC, naive
    request_id: Mapped[str] = mapped_column(String(128), index=True)  # feedback finds its prediction by it
    use_case: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(32))
    key_name: Mapped[str | None] = mapped_column(String(64))  # None: anonymous
    channel: Mapped[str] = mapped_column(String(8))  # "api" or "page"
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    items: Mapped[int] = mapped_column(Integer)
    labels: Mapped[str | None] = mapped_column(String(512))  # JSON {class: count}
    score: Mapped[float | None] = mapped_column(Float)  # the score of one item, the mean of a batch
    outputs: Mapped[str | None] = mapped_column(Text)  # JSON list, one entry per item: what UseCase.kept keeps


class Pending(NamedTuple):
    """A log row as the request left it: cheap to make, turned into a row by the flush."""

    at: float  # time.time()
    request_id: str
    use_case: str
    version: str | None
    key_name: str | None
    channel: str
    status: int
    seconds: float
    items: int
    classes: Counter
    score: float | None
    results: list[dict] | None = None  # the request's results as it answered them: made into outputs by the flush
    outputs: str | None = None  # the JSON of what the use case keeps of each result

    def row(self) -> dict[str, Any]:
        return {
            "at": datetime.fromtimestamp(self.at, UTC).replace(tzinfo=None), "request_id": self.request_id,
            "use_case": self.use_case, "version": self.version, "key_name": self.key_name,
            "channel": self.channel, "status": self.status, "latency_ms": round(self.seconds * 1000, 3),
            "items": self.items, "score": self.score,
            "labels": orjson.dumps(self.classes).decode() if self.classes else None,
            "outputs": self.outputs,
        }

    def kept(self, use_cases: dict[str, UseCase]) -> Pending:
        """This row with its results made into ``outputs`` (what its use case keeps of each) and let go."""
        if self.results is None:
            return self
        use_case = use_cases.get(self.use_case)
        if use_case is None or use_case.kept is None:
            return self._replace(results=None)
        try:
            outputs = orjson.dumps([use_case.kept(result) for result in self.results],
                                   option=orjson.OPT_SERIALIZE_NUMPY).decode()
        except Exception:  # noqa: BLE001 - a result the use case cannot keep costs its outputs, never the row
            log.exception("prediction log: %s results could not be kept; the row is written without them",
                          self.use_case)
            outputs = None
        return self._replace(results=None, outputs=outputs)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class PredictionLogWriter(Buffer[list]):
    """Buffers this process's log rows; :meth:`flush` writes them, :meth:`prune` deletes old ones."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.flushing = threading.Lock()  # one flush at a time: the loop's, or the one at exit
        self.tallies = Tallies()
        self.max_held = int(app.config["MAX_HELD_LOG_ROWS"])
        self.database = extensions.database_outage(app)
        self.held: list[tuple[str, list[Pending]]] = []  # batches a flush could not write: (batch id, rows)
        self.dropping = False
        self.retention = timedelta(days=float(app.config["LOG_RETENTION_DAYS"]))
        self.pruned_at = -math.inf  # never: the first round prunes, however long the machine has been up
        super().__init__("mlapi-prediction-log", app.config["LOG_FLUSH_SECONDS"])

    def empty(self) -> list[Pending]:
        return []

    def add(self, row: Pending) -> None:
        self.loop.ensure_started()
        with self.lock:
            self.pending.append(row)

    def flush(self) -> None:
        """Write the pending rows in one insert, and the traffic tallies.

        If the database is away, the batch is held and tried again, with what came since, at the next flush.
        """
        with self.flushing:
            taken = self.take()
            for row in taken:
                self.tallies.add(datetime.fromtimestamp(row.at, UTC).replace(tzinfo=None), row.use_case,
                                 row.version, row.status, row.seconds * 1000, row.items, row.classes)
            rows = [row for row in taken if row.status != 429]  # a 429 is only tallied
            rows = [row.kept(extensions.registry(self.app).use_cases) for row in rows]  # held rows keep no results
            batches = self.held + ([(uuid.uuid4().hex, rows)] if rows else [])
            if not batches and not any(tally.changed for tally in self.tallies.held.values()):
                return
            try:
                self.write_batches(batches)
            except Exception as error:
                if not is_outage(error):
                    raise
                self.hold(batches, error)
                return
            self.database.answered()
            self.held, self.dropping = [], False
            metrics.held_log_rows.set(0)

    def write_batches(self, batches: list[tuple[str, list[Pending]]]) -> None:
        """Insert the rows of the batches not written yet, and the tallies, in one transaction."""
        with self.app.app_context():
            try:
                with deadline(BACKGROUND_DEADLINE_SECONDS):
                    fresh = not_yet_written(db.session, [batch_id for batch_id, _ in batches]) if batches else ()
                    rows = [row.row() for batch_id, batch in batches if batch_id in fresh for row in batch]
                    if rows:
                        db.session.execute(insert(PredictionLog.__table__), rows)
                    self.tallies.write(db.session)
                    db.session.commit()
            except Exception:
                db.session.rollback()
                self.tallies.not_written()
                raise
        self.tallies.written(utc_now())

    def hold(self, batches: list[tuple[str, list[Pending]]], error: Exception) -> None:
        """Keep the batches for the next flush: the newest MAX_HELD_LOG_ROWS rows, the oldest dropped."""
        self.database.failed(error)
        excess = sum(len(batch) for _, batch in batches) - self.max_held
        while excess > 0:
            batch_id, batch = batches[0]
            gone = min(excess, len(batch))
            batches[0] = (batch_id, batch[gone:])
            if not batches[0][1]:
                batches.pop(0)
            excess -= gone
            metrics.dropped_log_rows_total.inc(gone)
            if not self.dropping:
                log.error("prediction log: more than %d rows held; the oldest are dropped", self.max_held)
            self.dropping = True
        self.held = batches
        self.shed_outputs()
        metrics.held_log_rows.set(sum(len(batch) for _, batch in batches))

    def shed_outputs(self) -> None:
        """Past MAX_HELD_OUTPUTS_BYTES of held outputs, the oldest rows let theirs go (they take no feedback)."""
        total = sum(len(row.outputs) for _, batch in self.held for row in batch if row.outputs)
        for index, (batch_id, batch) in enumerate(self.held):
            if total <= MAX_HELD_OUTPUTS_BYTES:
                return
            lighter = []
            for row in batch:
                if row.outputs and total > MAX_HELD_OUTPUTS_BYTES:
                    total -= len(row.outputs)
                    row = row._replace(outputs=None)  # noqa: PLW2901
                lighter.append(row)
            self.held[index] = (batch_id, lighter)

    def each_round(self) -> None:
        """The loop's round: flush, and once an hour prune (later, if the database is away)."""
        self.flush()
        if self.database.up and time.monotonic() - self.pruned_at >= PRUNE_EVERY_SECONDS:
            with self.app.app_context():
                try:
                    self.prune()
                except Exception as error:
                    self.database.absorb(error)

    def prune(self) -> int:
        """Delete rows older than the retention period; how many went."""
        self.pruned_at = time.monotonic()
        oldest = utc_now() - self.retention
        gone = db.session.execute(delete(PredictionLog).where(PredictionLog.at < oldest))
        forget_written_batches(db.session)
        db.session.execute(delete(TrafficMinute).where(TrafficMinute.minute < oldest))
        db.session.commit()
        return gone.rowcount


def is_prediction(req: Request, state: RequestState, status: int) -> bool:
    """A POST to a use case's API, or a page that called predict, that got as far as validation."""
    if status in REFUSED_BEFORE_THE_MODEL:
        return False
    return state.predicting is not None or (req.method == "POST" and req.path.startswith("/api/"))


def outcome_of(results: list[dict], use_case: UseCase) -> tuple[Counter, float | None]:
    """The predicted classes of ``results`` counted, and their mean score."""
    classes: Counter = Counter()
    total, scored = 0.0, 0
    for result in results:
        label, score = use_case.outcome(result)
        if label is not None:
            classes[label] += 1
        if score is not None:
            total, scored = total + score, scored + 1
    return classes, (total / scored if scored else None)


def record(response: Response) -> Response:
    """Count the response; for a prediction, its latency and classes too, and queue its log row."""
    req = request._get_current_object()  # one proxy lookup, not dozens
    state, app = req.state, current_app._get_current_object()
    endpoint = req.url_rule.rule if req.url_rule else "(unmatched)"
    method = req.method if req.method in METHODS else "other"  # a client cannot mint label values
    status = response.status_code
    caller, use_case = state.caller, req.use_case
    rate_limited = (use_case.name if use_case else "-", caller.role) if status == 429 else None
    counts = extensions.held_counts(app)
    if use_case is None or not is_prediction(req, state, status):
        counts.add((endpoint, method, status), rate_limited)
        if rate_limited and use_case is not None:  # tallied per minute for the alerts, never a log row
            extensions.prediction_log(app).add(Pending(time.time(), state.request_id, use_case.name, None, caller.name,
                                                       "api", status, 0.0, 0, Counter(), None))
        return response
    name = use_case.name
    seconds = time.perf_counter() - (state.started or time.perf_counter())
    model, results = state.model, state.results
    serving = extensions.registry(app).loaded.get(name)
    version = model["version"] if model else serving.version if serving else None
    classes, score = outcome_of(results, use_case)
    predicted = (name, version, seconds, classes or {"-": len(results)}) if model else None
    counts.add((endpoint, method, status), rate_limited, predicted)
    channel = "api" if req.path.startswith("/api/") else "page"
    extensions.prediction_log(app).add(Pending(
        time.time(), state.request_id, name, version, caller.name, channel, status,
        seconds, len(results), classes, score, results if model and results else None,
    ))
    return response


def index_request_ids(app: Flask) -> None:
    """Index ``request_id`` in a log made before feedback looked rows up by it (``create_all`` makes the
    index only with a new table). Two servers starting at once may race to make it: the loser carries on."""
    with app.app_context():
        try:
            with db.engine.begin() as connection:
                connection.execute(text("CREATE INDEX IF NOT EXISTS ix_prediction_log_request_id "
                                        "ON prediction_log (request_id)"))
        except exc.SQLAlchemyError as error:
            log.warning("prediction log: could not index request_id (%s); feedback looks rows up more slowly",
                        type(error).__name__)


def init_app(app: Flask) -> PredictionLogWriter:
    """The app's metric counts and prediction log (its hook is in :mod:`mlapi.request_path`)."""
    index_request_ids(app)
    extensions.held_counts.install(app, metrics.HeldCounts(app.config["LOG_FLUSH_SECONDS"]))
    return extensions.prediction_log.install(app, PredictionLogWriter(app))

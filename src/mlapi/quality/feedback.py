"""Feedback: the true outcome of an answered prediction, found by its request id and the item's position.

The prediction is looked up in the prediction log, which has kept what each item predicted (``outputs``).
A row may not be written yet when feedback follows its prediction at once (each worker writes its rows once
a second): this worker's are written first, and then the log is read again for up to
``FEEDBACK_WAIT_SECONDS`` before an unknown request id is a 404 (two requests of a process wait so at a time;
the others answer at once, so unknown ids cannot hold every thread). A request id is the client's own when it
sent one, so two keys may have used the same: a client's feedback is for its own prediction, an admin's for
the latest. A second truth for the same item replaces the first (an upsert on ``(prediction_id, position)``).
A batch is stored whole or not at all.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    Row,
    String,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from mlapi import extensions
from mlapi.access.keys import Caller, Forbidden
from mlapi.errors import NotFound, ValidationFailed
from mlapi.observability.prediction_log import PredictionLog, utc_now
from mlapi.quality.truths import TRUTH_FIELDS, TRUTHS, Rejected
from mlapi.serving.prediction import validation_detail
from mlapi.storage.database import db
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline
from mlapi.words import N_

POLL_SECONDS = 0.1  # how often the log is read again while a request id is not in it yet
WAITING = threading.BoundedSemaphore(2)  # requests of this process waiting so: unknown ids cannot hold every thread
REPLACED = ("request_id", "use_case", "version", "key_name", "given_by", "predicted_at", "at", "predicted", "truth",
            "true_class", "predicted_class", "hit", "abs_error", "weeks", "pct_error", "pct_weeks")  # by a new truth


class Feedback(db.Model):
    """The true outcome of one predicted item, with what was predicted and what it adds to the metrics."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("prediction_id", "position", name="uq_feedback_item"),
                      Index("ix_feedback_window", "use_case", "predicted_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[int] = mapped_column(Integer)  # prediction_log.id: the log is pruned, feedback stays
    position: Mapped[int] = mapped_column(Integer)  # the item in its request, from 0
    request_id: Mapped[str] = mapped_column(String(128))
    use_case: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(32))
    key_name: Mapped[str | None] = mapped_column(String(64))  # the prediction's key; None: anonymous
    given_by: Mapped[str] = mapped_column(String(64))  # the key that gave this truth (the same, or an admin)
    predicted_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive: the window of live quality
    at: Mapped[datetime] = mapped_column(DateTime)  # when this truth was given
    predicted: Mapped[str] = mapped_column(Text)  # JSON: what the log kept of the item
    truth: Mapped[str] = mapped_column(Text)  # JSON: the true outcome, in its use case's field
    true_class: Mapped[str | None] = mapped_column(String(64))
    predicted_class: Mapped[str | None] = mapped_column(String(64))
    hit: Mapped[bool | None] = mapped_column(Boolean)
    abs_error: Mapped[float | None] = mapped_column(Float)
    weeks: Mapped[int | None] = mapped_column(Integer)
    pct_error: Mapped[float | None] = mapped_column(Float)
    pct_weeks: Mapped[int | None] = mapped_column(Integer)


def give(items: list[dict[str, Any]], caller: Caller, batch: bool) -> list[dict[str, Any]]:
    """Store the truth of each item (``request_id``, ``position`` and one truth field); what was stored, in order.

    :raises NotFound: a request id not answered (or not yet logged after the wait), past the log's retention,
        or a position past its items (404).
    :raises Forbidden: a client key's feedback on another key's prediction (403).
    :raises ValidationFailed: a truth field or value its use case does not take (422), every item's at once.
    """
    config = current_app.config
    if not config["MONITORING_ENABLED"]:
        raise NotFound(N_("This server keeps no prediction log (MLAPI_MONITORING_ENABLED=false), so it cannot "
                          "take feedback."))
    found = predictions({item["request_id"] for item in items}, float(config["FEEDBACK_WAIT_SECONDS"]))
    oldest = utc_now() - timedelta(days=float(config["LOG_RETENTION_DAYS"]))
    now, outputs, rows, answers, errors = utc_now(), {}, {}, [], {}
    for index, item in enumerate(items):
        where = f"items.{index}." if batch else ""
        request_id, position = item["request_id"], item["position"]
        prediction = chosen(found.get(request_id, []), caller, request_id, oldest)
        if prediction.id not in outputs:
            outputs[prediction.id] = orjson.loads(prediction.outputs)
        if position >= len(outputs[prediction.id]):
            raise NotFound(N_("Request {request_id} answered {count} item(s): 'position' goes from 0 to {last}.")
                           .format(request_id=request_id, count=len(outputs[prediction.id]),
                                   last=len(outputs[prediction.id]) - 1))
        predicted = outputs[prediction.id][position]
        truth_of = TRUTHS.get(prediction.use_case)
        if truth_of is None:
            raise ValidationFailed(N_("Request {request_id} was a {name} prediction, which takes no feedback.")
                                   .format(request_id=request_id, name=prediction.use_case))
        given = next(name for name in TRUTH_FIELDS if name in item)
        try:
            if given != truth_of.field:
                raise Rejected(N_("Request {request_id} was a {name} prediction: give its true outcome as '{field}', "
                                  "not '{given}'.").format(request_id=request_id, name=prediction.use_case,
                                                           field=truth_of.field, given=given))
            truth = truth_of.parse(item[given], predicted)
        except Rejected as rejected:
            errors[f"{where}{given}"] = [str(rejected)]
            continue
        rows[prediction.id, position] = {
            "prediction_id": prediction.id, "position": position, "request_id": request_id,
            "use_case": prediction.use_case, "version": prediction.version, "key_name": prediction.key_name,
            "given_by": caller.name, "predicted_at": prediction.at, "at": now,
            "predicted": orjson.dumps(predicted).decode(), "truth": orjson.dumps(truth).decode(),
            **truth_of.judged(predicted, truth)._asdict(),
        }
        answers.append(({"request_id": request_id, "position": position, "use_case": prediction.use_case,
                         "version": prediction.version, "predicted": predicted, "truth": {truth_of.field: truth}},
                        (prediction.id, position)))
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first if len(errors) == 1 else validation_detail(errors), errors)
    with deadline(REQUEST_DEADLINE_SECONDS):
        replaced = stored_already(list(rows))
        upsert(list(rows.values()))
        db.session.commit()
    seen: set[tuple[int, int]] = set()
    for answer, item_key in answers:  # a truth given twice in one batch replaced its first
        answer["replaced"] = item_key in replaced or item_key in seen
        seen.add(item_key)
    return [answer for answer, _ in answers]


def chosen(candidates: list[Row], caller: Caller, request_id: str, oldest: datetime) -> Row:
    """The prediction of ``request_id`` that ``caller`` may give feedback on: its own latest, or an admin's latest.

    :raises NotFound: none answered, past retention, or one whose outputs were not kept.
    :raises Forbidden: only other keys' predictions have that request id.
    """
    if not candidates:
        raise NotFound(N_("No answered prediction has the request id {request_id}: use the X-Request-ID header "
                          "of a prediction's answer (it is logged within a second: right after it, send the "
                          "feedback again if this came at once).").format(request_id=request_id))
    own = candidates if caller.role == "admin" else [row for row in candidates if row.key_name == caller.name]
    if not own:
        raise Forbidden(N_("Request {request_id} was not made with your key: only the key that made a prediction, "
                           "or an admin key, may give its feedback.").format(request_id=request_id))
    prediction = own[0]
    if prediction.at < oldest:
        raise NotFound(N_("Request {request_id} was answered more than {days} days ago, longer than predictions are "
                          "kept.").format(request_id=request_id, days=current_app.config["LOG_RETENTION_DAYS"]))
    if prediction.outputs is None:
        raise NotFound(N_("Request {request_id} was answered, but what it predicted was not kept, so it cannot "
                          "take feedback.").format(request_id=request_id))
    return prediction


def predictions(request_ids: set[str], wait_seconds: float) -> dict[str, list[Row]]:
    """The answered predictions of each request id, latest first; ids not logged yet are looked for again
    until ``wait_seconds`` have passed (this worker's own rows are written first)."""
    writer = extensions.prediction_log()
    if extensions.database_outage().up:  # else the read below is the 503, without waiting for a write first
        writer.flush()
    found = logged(request_ids)
    if found.keys() >= request_ids or not WAITING.acquire(blocking=False):  # a few wait; the others answer at once
        return found
    try:
        ends = time.monotonic() + wait_seconds
        while (missing := request_ids - found.keys()) and time.monotonic() < ends:
            time.sleep(POLL_SECONDS)
            found |= logged(missing)
    finally:
        WAITING.release()
    return found


def logged(request_ids: Iterable[str]) -> dict[str, list[Row]]:
    log = PredictionLog
    query = (select(log.id, log.request_id, log.at, log.use_case, log.version, log.key_name, log.outputs)
             .where(log.request_id.in_(list(request_ids)), log.status == 200).order_by(log.id.desc()))
    found: dict[str, list[Row]] = {}
    with deadline(REQUEST_DEADLINE_SECONDS):
        for row in db.session.execute(query):
            found.setdefault(row.request_id, []).append(row)
    return found


def stored_already(item_keys: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which (prediction id, position) pairs have a truth already."""
    if not item_keys:
        return set()
    ids = {prediction_id for prediction_id, _ in item_keys}
    found = db.session.execute(select(Feedback.prediction_id, Feedback.position)
                               .where(Feedback.prediction_id.in_(ids)))
    return {(row.prediction_id, row.position) for row in found} & set(item_keys)


def upsert(rows: list[dict[str, Any]]) -> None:
    """Insert each row, or replace the truth of one stored for the same item (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        statement = dialect_insert(Feedback)
        statement = statement.on_conflict_do_update(index_elements=["prediction_id", "position"],
                                                    set_={name: statement.excluded[name] for name in REPLACED})
        db.session.execute(statement, rows)
        return
    for row in rows:  # another database: replace by hand, in the same transaction
        db.session.execute(delete(Feedback).where(Feedback.prediction_id == row["prediction_id"],
                                                  Feedback.position == row["position"]))
    db.session.execute(insert(Feedback), rows)

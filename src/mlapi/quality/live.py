"""Live quality: how right each version was on the feedback it got, over a window, beside its card's figures.

``live_quality(name, since)`` reads the feedback on predictions made since ``since`` (naive UTC, as the
prediction log keeps time), added up in the database per version (and per true and predicted class for a
classifier), and measures each version from those sums (:mod:`mlapi.quality.truths`). The window is the
time of the prediction, not of its feedback: a truth that comes a week late still counts for the hour the
model answered it. ``held_out(name, version)`` gives the same-named figures from the version's card.

Both read within the caller's session: bound them with :func:`mlapi.storage.outages.deadline`, which the
quality route and the ``/metrics`` collector do (not done here, since its rollback would end the caller's
own transaction).
"""
from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, select

from mlapi import extensions
from mlapi.extensions import Slot
from mlapi.observability.prediction_log import utc_now
from mlapi.quality.feedback import Feedback
from mlapi.quality.truths import TRUTHS, Group
from mlapi.serving.registry import registry
from mlapi.storage.database import db
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline

GAUGE_WINDOW = timedelta(hours=24)  # what mlapi_live_quality measures
# The card's name of each live metric; None where the card has no such figure. recommend's live hit rate is
# whether the movie watched was among those recommended (k of them, 10 by default); the card's is HR@10.
CARD_NAMES: dict[str, dict[str, str | None]] = {
    "sentiment": {"accuracy": "accuracy", "macro_f1": "macro_f1"},
    "xray": {"sensitivity": "sensitivity", "specificity": "specificity", "accuracy": "accuracy"},
    "fraud": {"precision": "precision", "recall": "recall"},
    "demand": {"mape": None, "mae": None},  # the card measures MASE on backtests, a different figure
    "recommend": {"hit_rate": "model_hr@10"},
}


def live_quality(name: str, since: datetime, version: str | None = None) -> dict[str, dict]:
    """Per version of ``name`` with feedback on predictions made since ``since`` (naive UTC), or only ``version``:
    ``{"count": items, "metrics": {name: value or None}, "confusion": {true: {predicted: count}}}`` (no
    ``confusion`` for demand and recommend). A use case that takes no feedback has none: ``{}``."""
    truth = TRUTHS.get(name)
    if truth is None:
        return {}
    if since.tzinfo is not None:  # an aware time is taken for what it says, in the log's naive UTC
        since = since.astimezone(UTC).replace(tzinfo=None)
    per_version: dict[str, list[Group]] = {}
    for group in groups(name, since, version):
        per_version.setdefault(group.version or "-", []).append(group)
    measured = {}
    for found, its_groups in sorted(per_version.items(), key=lambda item: version_order(item[0])):
        metrics, confusion = truth.measure(its_groups)
        measured[found] = {"count": sum(group.count for group in its_groups), "metrics": metrics}
        if confusion is not None:
            measured[found]["confusion"] = confusion
    return measured


def groups(name: str, since: datetime, version: str | None) -> list[Group]:
    """The feedback of ``name`` added up per version, true class and predicted class."""
    feedback = Feedback
    query = (select(feedback.version, feedback.true_class, feedback.predicted_class, func.count(),
                    func.sum(case((feedback.hit.is_(True), 1), else_=0)),
                    func.sum(feedback.abs_error), func.sum(feedback.weeks),
                    func.sum(feedback.pct_error), func.sum(feedback.pct_weeks))
             .where(feedback.use_case == name, feedback.predicted_at >= since)
             .group_by(feedback.version, feedback.true_class, feedback.predicted_class))
    if version is not None:
        query = query.where(feedback.version == version)
    return [Group(found, true, predicted, int(count), int(hits or 0), float(abs_error or 0), int(weeks or 0),
                  float(pct_error or 0), int(pct_weeks or 0))
            for found, true, predicted, count, hits, abs_error, weeks, pct_error, pct_weeks
            in db.session.execute(query)]


def version_order(version: str) -> tuple[float, str]:
    """v2 before v10 (and anything else last)."""
    digits = version[1:]
    return (int(digits), version) if version.startswith("v") and digits.isdigit() else (math.inf, version)


def held_out(name: str, version: str) -> dict[str, float | None]:
    """The card's figure for each live metric of ``name`` (None where the card has none, or no card is found)."""
    truth = TRUTHS.get(name)
    if truth is None:
        return {}
    names = CARD_NAMES.get(name, {})
    try:
        card = registry.card(name, version).get("metrics", {})
    except (OSError, ValueError):
        card = {}
    figures: dict[str, float | None] = {}
    for metric in truth.metrics:
        value = card.get(names.get(metric) or "")
        figures[metric] = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return figures


class RecentQuality:
    """The last 24 hours' live quality of every use case for ``/metrics``, read at most once per ``seconds``
    in this process; while the database is away, the figures last read (none at first)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.read_at = -math.inf
        self.figures: list[tuple[str, str, int, dict[str, float | None]]] = []

    def get(self) -> list[tuple[str, str, int, dict[str, float | None]]]:
        """(use case, version, feedback items, metrics) of each version with feedback in the last 24 hours."""
        with self.lock:
            if time.monotonic() - self.read_at < self.seconds:
                return self.figures
            self.read_at = time.monotonic()  # a failed read is not tried again before the period either
            since = utc_now() - GAUGE_WINDOW
            try:
                with deadline(REQUEST_DEADLINE_SECONDS):
                    self.figures = [(name, version, measured["count"], measured["metrics"])
                                    for name in registry.use_cases if name in TRUTHS
                                    for version, measured in live_quality(name, since).items()]
            except Exception as error:  # noqa: BLE001 - an outage is absorbed (said once), anything else raised
                extensions.database_outage().absorb(error)
            return self.figures


recent: Slot[RecentQuality] = Slot("recent_quality")


def recent_quality() -> list[tuple[str, str, int, dict[str, float | None]]]:
    """This app's :class:`RecentQuality` figures (made at the first scrape)."""
    app = current_app._get_current_object()
    if recent.key not in app.extensions:
        recent.install(app, RecentQuality(float(app.config["LIVE_QUALITY_CACHE_SECONDS"])))
    return recent(app).get()

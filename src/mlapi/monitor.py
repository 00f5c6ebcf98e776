"""The last hour of traffic, from the prediction log: what ``/monitor`` shows and ``/api/v1/usage`` answers.

The log is in the shared database, so every worker and every instance tells the same story.

Drift: each trained version's card holds ``label_shares``, the classes it predicted on
held-out data. The classes predicted in the last hour are compared with them by total
variation distance (half the sum of the absolute differences of the shares: 0 when they
match, 1 when they share nothing), flagged from ``DRIFT_DISTANCE`` once
``DRIFT_MIN_ITEMS`` items were predicted (fewer are too noisy to say).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import case, func, select

from mlapi.extensions import db
from mlapi.monitoring import PredictionLog, utc_now
from mlapi.registry import registry

WINDOW_MINUTES = 60
MAX_ROWS = 100_000  # the newest rows of the hour; a busier hour is summarised from these
DRIFT_MIN_ITEMS = 50
DRIFT_DISTANCE = 0.2
CHART_WIDTH, CHART_HEIGHT, BAR = 600, 90, 10  # one bar a minute


@dataclass
class ClassShare:
    label: str
    now: float
    training: float | None


@dataclass
class Activity:
    """One use case's last hour."""

    name: str
    title: str
    version: str | None
    errors: int = 0  # answered 4xx or 5xx, other than 429
    rate_limited: int = 0
    items: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    per_minute: list[int] = field(default_factory=lambda: [0] * WINDOW_MINUTES)
    failed_per_minute: list[int] = field(default_factory=lambda: [0] * WINDOW_MINUTES)
    classes: list[ClassShare] = field(default_factory=list)
    drift_distance: float | None = None
    drifting: bool = False

    @property
    def requests(self) -> int:
        return sum(self.per_minute)

    def bars(self) -> list[dict]:
        """The per-minute chart's bars, oldest on the left, scaled to the busiest minute."""
        top = max(max(self.per_minute), 1)
        scale = (CHART_HEIGHT - 14) / top
        return [
            {"x": i * BAR, "height": round(count * scale, 1), "failed": round(failed * scale, 1),
             "count": count, "minutes_ago": WINDOW_MINUTES - i}
            for i, (count, failed) in enumerate(zip(self.per_minute, self.failed_per_minute, strict=True))
        ]


def last_hour(now: datetime | None = None) -> list[Activity]:
    """Every use case's requests, latency, errors, 429s and predicted classes over the last hour."""
    now = now or utc_now()
    since = now - timedelta(minutes=WINDOW_MINUTES)
    by_use_case: dict[str, list] = {}
    for row in rows_since(since):
        by_use_case.setdefault(row.use_case, []).append(row)
    activities = []
    for name, use_case in registry.use_cases.items():
        loaded = registry.loaded.get(name)
        activity = Activity(name, use_case.title, loaded.version if loaded else None)
        classes: Counter = Counter()
        answered = []
        for row in by_use_case.get(name, []):
            minute = min(int((row.at - since).total_seconds() // 60), WINDOW_MINUTES - 1)
            activity.per_minute[minute] += 1
            if row.status == 429:
                activity.rate_limited += 1
            elif row.status >= 400:
                activity.errors += 1
            else:
                answered.append(row.latency_ms)
                activity.items += row.items
                classes.update(json.loads(row.labels) if row.labels else {})
            if row.status >= 400:
                activity.failed_per_minute[minute] += 1
        if answered:
            activity.p50_ms, activity.p95_ms = (round(float(v), 1) for v in np.percentile(answered, [50, 95]))
        compare_classes(activity, classes, loaded.card.get("label_shares") if loaded else None)
        activities.append(activity)
    return activities


def rows_since(since: datetime) -> list:
    """The log rows from ``since`` on, newest first, at most MAX_ROWS."""
    columns = (PredictionLog.at, PredictionLog.use_case, PredictionLog.status, PredictionLog.latency_ms,
               PredictionLog.items, PredictionLog.labels)
    query = select(*columns).where(PredictionLog.at >= since).order_by(PredictionLog.at.desc()).limit(MAX_ROWS)
    return db.session.execute(query).all()


def compare_classes(activity: Activity, counted: Counter, training: dict[str, float] | None) -> None:
    """Fill the class shares of the hour beside the training ones, and the drift flag."""
    total = sum(counted.values())
    labels = sorted(set(counted) | set(training or {}))
    activity.classes = [
        ClassShare(label, round(counted[label] / total, 4) if total else 0.0,
                   training.get(label, 0.0) if training else None)
        for label in labels
    ]
    if training and total:
        distance = sum(abs(share.now - share.training) for share in activity.classes) / 2
        activity.drift_distance = round(distance, 3)
        activity.drifting = total >= DRIFT_MIN_ITEMS and distance >= DRIFT_DISTANCE


def usage_per_key(minutes: int, now: datetime | None = None) -> list[dict]:
    """Requests per key (``None``: anonymous) and use case over the last ``minutes``, busiest key first."""
    since = (now or utc_now()) - timedelta(minutes=minutes)
    log = PredictionLog
    query = (
        select(
            log.key_name, log.use_case, func.count(),
            func.sum(case(((log.status >= 400) & (log.status != 429), 1), else_=0)),
            func.sum(case((log.status == 429, 1), else_=0)),
            func.sum(log.items),
        )
        .where(log.at >= since)
        .group_by(log.key_name, log.use_case)
    )
    keys: dict[str | None, dict] = {}
    for key_name, use_case, requests, errors, limited, items in db.session.execute(query):
        entry = keys.setdefault(key_name, {"key": key_name, "requests": 0, "errors": 0, "rate_limited": 0,
                                           "items": 0, "use_cases": {}})
        entry["requests"] += requests
        entry["errors"] += int(errors or 0)
        entry["rate_limited"] += int(limited or 0)
        entry["items"] += int(items or 0)
        entry["use_cases"][use_case] = requests
    return sorted(keys.values(), key=lambda entry: (-entry["requests"], entry["key"] or ""))

"""The last hour of traffic, from the prediction log: what ``/monitor`` shows and ``/api/v1/usage`` answers.

The log is in the shared database, so every worker and every instance tells the same story.
``/monitor`` reads the per-minute tallies the workers write beside the log (:mod:`mlapi.observability.traffic`):
a few hundred rows an hour however busy it was, and each worker reuses its summary for
``MONITOR_CACHE_SECONDS``. Requests refused before a model was asked (401, 413, 415, 429, ...)
are not logged: the 429s shown come from the metrics, counted since the server started.

Drift: each version's card holds ``label_shares``, the classes it predicted on held-out
data. The classes the serving version predicted in the last hour (not those of a version it
replaced) are compared with them by total variation distance (half the sum of the absolute
differences of the shares: 0 when they match, 1 when they share nothing), flagged from ``DRIFT_DISTANCE`` once
``DRIFT_MIN_ITEMS`` items were predicted (fewer are too noisy to say).

Live quality: the serving version's figures from the feedback on its last day of predictions
(:mod:`mlapi.quality.live`), beside the same figures of its card.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select

from mlapi import extensions
from mlapi.observability.metrics import rate_limited_counts
from mlapi.observability.prediction_log import PredictionLog, utc_now
from mlapi.observability.traffic import LATENCY_BOUNDS_MS, TrafficMinute, percentile
from mlapi.quality.live import GAUGE_WINDOW, held_out, live_quality
from mlapi.serving.registry import Activation, registry
from mlapi.storage.database import db
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline

WINDOW_MINUTES = 60
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
    errors: int = 0  # answered 4xx or 5xx
    server_errors: int = 0  # of them, 5xx: the service failed, not the client
    rate_limited: int = 0  # 429s since the server started (from the metrics)
    items: int = 0
    version_items: int = 0  # predicted by the serving version: what drift is judged on
    p50_ms: float | None = None
    p95_ms: float | None = None
    per_minute: list[int] = field(default_factory=lambda: [0] * WINDOW_MINUTES)
    client_failed_per_minute: list[int] = field(default_factory=lambda: [0] * WINDOW_MINUTES)
    server_failed_per_minute: list[int] = field(default_factory=lambda: [0] * WINDOW_MINUTES)
    switches: list[tuple[int, str]] = field(default_factory=list)  # (minute index, version activated)
    classes: list[ClassShare] = field(default_factory=list)
    drift_distance: float | None = None
    drifting: bool = False
    quality: list[tuple[str, float | None, float | None]] = field(default_factory=list)  # (metric, live, held-out)
    quality_count: int = 0  # feedback items behind ``quality``

    @property
    def requests(self) -> int:
        return sum(self.per_minute)

    @property
    def client_errors(self) -> int:
        return self.errors - self.server_errors

    def bars(self) -> list[dict]:
        """The per-minute chart's bars, oldest on the left, scaled to the busiest minute: all answers, and at
        their foot the 5xx (``server``) and above them the 4xx (``client``)."""
        top = max(max(self.per_minute), 1)
        scale = (CHART_HEIGHT - 14) / top
        return [
            {"x": i * BAR, "height": round(count * scale, 1), "server": round(server * scale, 1),
             "client": round(client * scale, 1), "count": count, "minutes_ago": WINDOW_MINUTES - i}
            for i, (count, client, server) in enumerate(zip(self.per_minute, self.client_failed_per_minute,
                                                            self.server_failed_per_minute, strict=True))
        ]

    def marks(self) -> list[dict]:
        """Where the chart marks each version switch of the window."""
        return [{"x": index * BAR, "version": version, "minutes_ago": WINDOW_MINUTES - index}
                for index, version in self.switches]


def last_hour(now: datetime | None = None) -> list[Activity]:
    """Every use case's requests, latency, errors and predicted classes over the last hour."""
    now = now or utc_now()
    since = (now - timedelta(minutes=WINDOW_MINUTES - 1)).replace(second=0, microsecond=0)
    activities = {}
    for name, use_case in registry.use_cases.items():
        loaded = registry.loaded.get(name)
        activities[name] = Activity(name, use_case.title, loaded.version if loaded else None)
    classes: dict[str, Counter] = {name: Counter() for name in activities}
    latencies = {name: [0] * (len(LATENCY_BOUNDS_MS) + 1) for name in activities}
    for row in db.session.scalars(select(TrafficMinute).where(TrafficMinute.minute >= since)):
        activity = activities.get(row.use_case)
        if activity is None:
            continue
        minute = index_of(row.minute, since)
        server = row.server_errors or 0
        activity.per_minute[minute] += row.requests
        activity.server_failed_per_minute[minute] += server
        activity.client_failed_per_minute[minute] += row.errors - server
        activity.errors += row.errors
        activity.server_errors += server
        activity.items += row.items
        if row.version == activity.version:  # drift is the serving version's, not the one it replaced
            activity.version_items += row.items
            classes[row.use_case].update(json.loads(row.labels))
        latencies[row.use_case] = [a + b for a, b in zip(latencies[row.use_case], json.loads(row.latencies),
                                                         strict=True)]
    switches = select(Activation).where(Activation.activated_at >= since).order_by(Activation.id)
    for switch in db.session.scalars(switches):
        if switch.name in activities:
            activities[switch.name].switches.append((index_of(naive(switch.activated_at), since), switch.version))
    limited = rate_limited_counts()
    for name, activity in activities.items():
        activity.rate_limited = limited.get(name, 0)
        activity.p50_ms, activity.p95_ms = percentile(latencies[name], 0.5), percentile(latencies[name], 0.95)
        loaded = registry.loaded.get(name)
        compare_classes(activity, classes[name], loaded.card.get("label_shares") if loaded else None)
        if loaded:
            add_quality(activity, now)
    return list(activities.values())


def add_quality(activity: Activity, now: datetime) -> None:
    """The serving version's live quality over the last day, beside its card's figures (none without feedback)."""
    measured = live_quality(activity.name, now - GAUGE_WINDOW, activity.version).get(activity.version)
    if measured:
        card = held_out(activity.name, activity.version)
        activity.quality = [(metric, value, card.get(metric)) for metric, value in measured["metrics"].items()]
        activity.quality_count = measured["count"]


def index_of(moment: datetime, since: datetime) -> int:
    """The chart's minute of ``moment`` (0: the window's first)."""
    return min(max(int((moment - since).total_seconds() // 60), 0), WINDOW_MINUTES - 1)


def naive(moment: datetime) -> datetime:
    """``moment`` as the log's naive UTC (a database may hand back an aware one)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class CachedSummary:
    """The last hour as one worker last computed it, reused for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.made_at, self.activities, self.now = -float("inf"), [], utc_now()

    def get(self) -> tuple[list[Activity], datetime]:
        """The summary and the time it describes; one request computes it while the others wait."""
        with self.lock:
            database = extensions.database_outage()
            if time.monotonic() - self.made_at >= self.seconds and database.up:
                try:
                    with deadline(REQUEST_DEADLINE_SECONDS):
                        self.activities, self.now = last_hour(utc_now()), utc_now()
                except Exception as error:  # the database is away: the last summary stays, dated
                    database.absorb(error)
                self.made_at = time.monotonic()
            return self.activities, self.now


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

"""What a rule's condition is judged on: one use case's predictions over a window, from what is recorded anyway.

The prediction log's rows of the window (the newest ``MAX_ROWS`` of them: a share, a rate or a percentile over
that many requests is as good as over all) give the classes, errors and latencies, to the second; the traffic
tallies give the 429s, which the log leaves out, by the minute; the registry gives the active and serving
versions; :mod:`mlapi.quality.live` the live quality. A value is None while the window holds fewer than the
rule's ``min_count`` (items, requests or feedback): too few to judge, so the rule does not hold.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from mlapi.alerts.rules import AlertRule, Condition, Known
from mlapi.observability.prediction_log import PredictionLog
from mlapi.observability.traffic import TrafficMinute
from mlapi.quality.live import live_quality
from mlapi.quality.truths import TRUTHS
from mlapi.serving.registry import registry
from mlapi.storage.database import db

MAX_ROWS = 5_000


@dataclass
class Window:
    """One use case's prediction requests since ``since``."""

    since: datetime
    serving: str | None  # the version this process answers with
    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    latencies: list[float] = field(default_factory=list)  # of the answered ones
    classes: Counter = field(default_factory=Counter)  # items per predicted class
    serving_classes: Counter = field(default_factory=Counter)  # of them, predicted by the serving version


def known() -> Known:
    """What rules may name: each use case's classes, as its serving version's card lists them (none for demand
    and recommend), and its live-quality metrics."""
    classes = {name: set(loaded.card.get("label_shares") or {}) if (loaded := registry.loaded.get(name)) else set()
               for name in registry.use_cases}
    return Known(classes, {name: TRUTHS[name].metrics if name in TRUTHS else () for name in registry.use_cases})


def read_rows(name: str, since: datetime) -> list[tuple]:
    """The prediction log's rows of ``name`` since ``since``, newest first, at most MAX_ROWS: (at, status,
    latency, classes, version), the classes read from their JSON once."""
    log = PredictionLog
    query = (select(log.at, log.status, log.latency_ms, log.labels, log.version)
             .where(log.use_case == name, log.at >= since).order_by(log.at.desc()).limit(MAX_ROWS))
    return [(at, status, latency, json.loads(labels) if labels else None, version)
            for at, status, latency, labels, version in db.session.execute(query)]


def add_up(rows: list[tuple], since: datetime, serving: str | None) -> Window:
    """The rows since ``since`` added up."""
    window = Window(since, serving)
    for at, status, latency, classes, version in rows:
        if at < since:
            break  # newest first: the rest are older
        window.requests += 1
        if status >= 400:
            window.errors += 1
            window.server_errors += status >= 500
            continue
        window.latencies.append(latency)
        if classes:
            window.classes.update(classes)
            if version == serving:
                window.serving_classes.update(classes)
    return window


def rate_limited_since(name: str, since: datetime) -> int:
    """Requests of ``name`` refused with 429 in the minutes that began at ``since`` or later."""
    minute = since.replace(second=0, microsecond=0)
    query = select(func.sum(TrafficMinute.rate_limited)).where(TrafficMinute.use_case == name,
                                                               TrafficMinute.minute >= minute)
    return int(db.session.scalar(query) or 0)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def measure(rule: AlertRule, condition: Condition, name: str, now: datetime, longest: dict[str, int],
            windows: dict) -> float | None:
    """The value of ``condition`` for use case ``name`` over the rule's window, or None if too little happened.

    ``longest`` is the longest window of the round's rules per use case: its rows are read once, into
    ``windows``, and each rule adds up those of its own window.
    """
    since = now - timedelta(seconds=rule.window_seconds)
    signal = condition.signal
    if signal == "version_mismatch":
        loaded = registry.loaded.get(name)
        active = registry.active_version(name)
        return float(loaded is not None and active is not None and loaded.version != active)
    if signal == "quality":
        serving = registry.loaded.get(name)
        if serving is None:
            return None
        measured = live_quality(name, since, serving.version).get(serving.version, {})
        value = measured.get("metrics", {}).get(condition.argument)
        return value if value is not None and measured.get("count", 0) >= rule.min_count else None
    if name not in windows:
        windows[name] = read_rows(name, now - timedelta(seconds=longest[name]))
    loaded = registry.loaded.get(name)
    window = add_up(windows[name], since, loaded.version if loaded else None)
    if signal == "share":
        items = sum(window.classes.values())
        return window.classes[condition.argument] / items if items >= rule.min_count else None
    if signal in ("error_rate", "server_error_rate"):
        failed = window.errors if signal == "error_rate" else window.server_errors
        return failed / window.requests if window.requests >= rule.min_count else None
    if signal == "p95_ms":
        return percentile(window.latencies, 0.95) if len(window.latencies) >= rule.min_count else None
    if signal == "rate_limited":
        refused = rate_limited_since(name, since)
        total = refused + window.requests
        return refused / total if total >= rule.min_count else None
    return drift(window, name, rule.min_count)


def drift(window: Window, name: str, min_count: int) -> float | None:
    """The total variation distance between the serving version's classes in the window and its held-out ones."""
    loaded = registry.loaded.get(name)
    training = loaded.card.get("label_shares") if loaded else None
    total = sum(window.serving_classes.values())
    if not training or total < min_count:
        return None
    labels = set(training) | set(window.serving_classes)
    return sum(abs(window.serving_classes[label] / total - training.get(label, 0.0)) for label in labels) / 2

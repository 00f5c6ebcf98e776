"""Prometheus metrics, right across every gunicorn worker (prometheus-client's multiprocess mode).

Under gunicorn, ``gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
folder where each worker keeps its values; ``GET /metrics`` adds them up. In a
single process (``flask run``, tests) the metrics live in that process.
The active version of each model is read at scrape time from the registry, and the live quality
from the database (the same in every worker, so it is never added up).
"""
from __future__ import annotations

import collections
import os
import struct
import time
from dataclasses import dataclass, field
from functools import cache

from flask import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from mlapi import extensions
from mlapi.storage.background import Buffer

READ_ATTEMPTS = 3
disable_created_metrics()  # no *_created series: they double the output and nobody graphs them
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

requests_total = Counter(
    "mlapi_http_requests", "HTTP requests answered, by route, method and status.", ["endpoint", "method", "status"]
)
prediction_seconds = Histogram(
    "mlapi_prediction_duration_seconds", "Time to answer a prediction request, by use case and model version.",
    ["use_case", "version"], buckets=LATENCY_BUCKETS,
)
predictions_total = Counter(
    "mlapi_predictions", "Items predicted (a batch counts each item), by use case, version and predicted class.",
    ["use_case", "version", "predicted"],
)
rate_limited_total = Counter(
    "mlapi_rate_limited", "Requests refused with 429, by use case ('-' for other routes) and caller tier.",
    ["use_case", "tier"],
)
model_load_failures_total = Counter(
    "mlapi_model_load_failures", "Model versions refused at load (missing, unreadable, or failing sha256).",
    ["use_case"],
)

database_up = Gauge("mlapi_database_up", "1 while the database answers, 0 while a worker cannot reach it.",
                    multiprocess_mode="livemin")
ratelimit_storage_up = Gauge("mlapi_ratelimit_storage_up",
                             "1 while the rate-limit storage answers, 0 while a worker cannot reach it.",
                             multiprocess_mode="livemin")
ratelimit_failures_total = Counter("mlapi_ratelimit_storage_failures",
                                   "Requests answered without a limit because the limit storage failed.")
held_log_rows = Gauge("mlapi_held_log_rows", "Prediction-log rows held in memory until the database answers.",
                      multiprocess_mode="livesum")
dropped_log_rows_total = Counter("mlapi_dropped_log_rows",
                                 "Prediction-log rows dropped, oldest first, because too many were held.")


@cache
def child(metric: MetricWrapperBase, *labels: object) -> MetricWrapperBase:
    """``metric.labels(*labels)``, remembered: a request's hot path skips prometheus-client's label checks."""
    return metric.labels(*labels)


@dataclass
class Counts:
    """A second's responses: per (route, method, status); 429s per (use case, tier); items per
    (use case, version, class); latencies per (use case, version)."""

    requests: collections.Counter = field(default_factory=collections.Counter)
    rate_limited: collections.Counter = field(default_factory=collections.Counter)
    predicted: collections.Counter = field(default_factory=collections.Counter)
    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)


class HeldCounts(Buffer[Counts]):
    """One app's counts and latencies not yet added to its Prometheus metrics; :meth:`flush` adds them.

    A response only counts into plain dicts here: adding to prometheus-client's values (a lock,
    a check of the process id and a write to the shared file, for each of four values) inside
    the request cost far more than adding a second's counts at once (docs/performance.md). The
    loop flushes once a second, at exit too, and a scrape of /metrics first flushes its own
    worker's: it lags the others by a second at most.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__("mlapi-metrics", seconds)

    def empty(self) -> Counts:
        return Counts()

    def add(self, answered: tuple[str, str, int], rate_limited: tuple[str, str] | None = None,
            prediction: tuple[str, str, float, dict[str, int]] | None = None) -> None:
        """One response: its (route, method, status); its (use case, tier) if refused with 429;
        its (use case, version, seconds, items per predicted class) if it predicted."""
        self.loop.ensure_started()
        with self.lock:
            held = self.pending
            held.requests[answered] += 1
            if rate_limited:
                held.rate_limited[rate_limited] += 1
            if prediction:
                name, version, seconds, classes = prediction
                held.seconds.setdefault((name, version), []).append(seconds)
                for label, count in classes.items():
                    held.predicted[name, version, label] += count

    def write(self, counts: Counts) -> None:
        """Add the counts taken to the metrics."""
        for metric, counted in ((requests_total, counts.requests), (rate_limited_total, counts.rate_limited),
                                (predictions_total, counts.predicted)):
            for labels, count in counted.items():
                child(metric, *labels).inc(count)
        for labels, latencies in counts.seconds.items():
            histogram = child(prediction_seconds, *labels)
            for latency in latencies:
                histogram.observe(latency)


class ActiveVersions:
    """A collector for the version each model serves, from this process's registry at scrape time."""

    def __init__(self, registry) -> None:
        self.registry = registry

    def collect(self):
        gauge = GaugeMetricFamily("mlapi_model_active", "1 for the version each model serves.",
                                  labels=["use_case", "version"])
        for name, loaded in self.registry.loaded.items():
            gauge.add_metric([name, loaded.version], 1)
        yield gauge


class LiveQuality:
    """A collector for ``mlapi_live_quality{use_case, version, metric}`` and the feedback it stands on, over the
    last 24 hours, from ``figures()``: (use case, version, feedback items, metrics) read from the database at
    scrape time (:func:`mlapi.quality.live.recent_quality`, cached per process, absorbing an outage)."""

    def __init__(self, figures) -> None:
        self.figures = figures

    def collect(self):
        quality = GaugeMetricFamily("mlapi_live_quality", "Live quality from feedback on the last 24 hours' "
                                    "predictions, by use case, version and metric (docs/quality.md).",
                                    labels=["use_case", "version", "metric"])
        feedback = GaugeMetricFamily("mlapi_live_quality_feedback", "Predicted items of the last 24 hours with "
                                     "feedback, by use case and version.", labels=["use_case", "version"])
        for name, version, count, measured in self.figures():
            feedback.add_metric([name, version], count)
            for metric, value in measured.items():
                if value is not None:
                    quality.add_metric([name, version, metric], value)
        yield quality
        yield feedback


class EveryWorker:
    """The metrics of every worker added up (under gunicorn), or this process's, read once.

    A worker creates each of its files before sizing it, and prometheus-client fails to read a
    file caught in that instant (client_python issue 1199): such a read is tried again.
    """

    def __init__(self) -> None:
        for attempt in range(READ_ATTEMPTS):
            try:
                self.families = list(self.source().collect())
                return
            except (struct.error, RuntimeError, UnicodeDecodeError):
                if attempt == READ_ATTEMPTS - 1:
                    raise
                time.sleep(0.01)

    @staticmethod
    def source() -> CollectorRegistry:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            collected = CollectorRegistry()
            MultiProcessCollector(collected)
            return collected
        return REGISTRY

    def collect(self) -> list[Metric]:
        return self.families


def summed(sample_name: str) -> float:
    """One unlabelled metric's value, every worker's added up (a gauge of mode livesum, a counter)."""
    return sum(sample.value for family in EveryWorker().collect() for sample in family.samples
               if sample.name == sample_name)


def rate_limited_counts() -> dict[str, int]:
    """429s per use case since the server started, every worker's added up."""
    counts: collections.Counter = collections.Counter()
    for family in EveryWorker().collect():
        if family.name == "mlapi_rate_limited":
            for sample in family.samples:
                if sample.name == "mlapi_rate_limited_total":
                    counts[sample.labels["use_case"]] += int(sample.value)
    return dict(counts)


def exposition() -> Response:
    """Every metric in Prometheus text format: all workers' values plus the active versions and live quality."""
    from mlapi.quality.live import recent_quality  # it reads the feedback table, whose module imports this one

    extensions.held_counts().flush()  # this worker's, up to this request
    collected = EveryWorker()
    active = CollectorRegistry()
    active.register(ActiveVersions(extensions.registry()))
    active.register(LiveQuality(recent_quality))
    return Response(generate_latest(collected) + generate_latest(active), content_type=CONTENT_TYPE_LATEST)

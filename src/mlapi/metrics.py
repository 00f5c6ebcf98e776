"""Prometheus metrics, right across every gunicorn worker (prometheus-client's multiprocess mode).

Under gunicorn, ``gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
folder where each worker keeps its values; ``GET /metrics`` adds them up. In a
single process (``flask run``, tests) the metrics live in that process.
The active version of each model is read at scrape time from the registry.
"""
from __future__ import annotations

import collections
import os
import threading
from functools import cache

from flask import Response, current_app
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
from prometheus_client.multiprocess import MultiProcessCollector

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


class HeldCounts:
    """One app's counts and latencies not yet added to its Prometheus metrics; :meth:`apply` adds them.

    A response only counts into plain dicts here: adding to prometheus-client's values
    (a lock, a check of the process id and a write to the shared file, for each of four
    values) cost a request about 36 µs of CPU under load, where adding a second's counts
    at once costs a few. Monitoring's loop applies them once a second, at exit too, and a
    scrape of /metrics first applies its own worker's: it lags the others by a second at most.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests, self.rate_limited, self.predicted = (collections.Counter() for _ in range(3))
        self.seconds: dict[tuple[str, str], list[float]] = {}

    def add(self, answered: tuple[str, str, int], rate_limited: tuple[str, str] | None = None,
            prediction: tuple[str, str, float, dict[str, int]] | None = None) -> None:
        """One response: its (route, method, status); its (use case, tier) if refused with 429;
        its (use case, version, seconds, items per predicted class) if it predicted."""
        with self.lock:
            self.requests[answered] += 1
            if rate_limited:
                self.rate_limited[rate_limited] += 1
            if prediction:
                name, version, seconds, classes = prediction
                self.seconds.setdefault((name, version), []).append(seconds)
                for label, count in classes.items():
                    self.predicted[name, version, label] += count

    def apply(self) -> None:
        """Add what is held to the metrics, and hold nothing."""
        with self.lock:
            requests, rate_limited, predicted, seconds = self.requests, self.rate_limited, self.predicted, self.seconds
            self.requests, self.rate_limited, self.predicted = (collections.Counter() for _ in range(3))
            self.seconds = {}
        for metric, counts in ((requests_total, requests), (rate_limited_total, rate_limited),
                               (predictions_total, predicted)):
            for labels, count in counts.items():
                child(metric, *labels).inc(count)
        for labels, latencies in seconds.items():
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


def every_worker() -> CollectorRegistry:
    """The metrics of every worker added up (under gunicorn), or this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        MultiProcessCollector(collected)
        return collected
    return REGISTRY


def summed(sample_name: str) -> float:
    """One unlabelled metric's value, every worker's added up (a gauge of mode livesum, a counter)."""
    return sum(sample.value for family in every_worker().collect() for sample in family.samples
               if sample.name == sample_name)


def rate_limited_counts() -> dict[str, int]:
    """429s per use case since the server started, every worker's added up."""
    counts: collections.Counter = collections.Counter()
    for family in every_worker().collect():
        if family.name == "mlapi_rate_limited":
            for sample in family.samples:
                if sample.name == "mlapi_rate_limited_total":
                    counts[sample.labels["use_case"]] += int(sample.value)
    return dict(counts)


def exposition() -> Response:
    """Every metric in Prometheus text format: all workers' values plus the active versions."""
    current_app.extensions["held_counts"].apply()  # this worker's, up to this request
    collected = every_worker()
    active = CollectorRegistry()
    active.register(ActiveVersions(current_app.extensions["registry"]))
    return Response(generate_latest(collected) + generate_latest(active), content_type=CONTENT_TYPE_LATEST)

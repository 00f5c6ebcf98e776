"""Prometheus metrics, right across every gunicorn worker (prometheus-client's multiprocess mode).

Under gunicorn, ``gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
folder where each worker keeps its values; ``GET /metrics`` adds them up. In a
single process (``flask run``, tests) the metrics live in that process.
The active version of each model is read at scrape time from the registry.
"""
from __future__ import annotations

import os
from functools import cache

from flask import Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
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


@cache
def child(metric: MetricWrapperBase, *labels: object) -> MetricWrapperBase:
    """``metric.labels(*labels)``, remembered: a request's hot path skips prometheus-client's label checks."""
    return metric.labels(*labels)


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


def exposition() -> Response:
    """Every metric in Prometheus text format: all workers' values plus the active versions."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        MultiProcessCollector(collected)
    else:
        collected = REGISTRY
    active = CollectorRegistry()
    active.register(ActiveVersions(current_app.extensions["registry"]))
    return Response(generate_latest(collected) + generate_latest(active), content_type=CONTENT_TYPE_LATEST)

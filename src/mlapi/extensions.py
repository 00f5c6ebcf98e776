"""mlapi's objects on the app, each reached through a typed accessor rather than a string key.

``extensions.registry()`` is the current app's :class:`Registry`, ``extensions.registry(app)``
another app's; ``extensions.registry.install(app, made)`` is how ``create_app`` puts it there.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from flask import Flask, current_app

if TYPE_CHECKING:
    from mlapi.access.cors import Cors
    from mlapi.access.key_usage import KeyUsage
    from mlapi.access.keys import VerifiedKeys
    from mlapi.access.rate_limits import RateLimits
    from mlapi.alerts.evaluator import AlertEvaluator
    from mlapi.observability.access_log import AccessLog
    from mlapi.observability.activity import CachedSummary
    from mlapi.observability.metrics import HeldCounts
    from mlapi.observability.prediction_log import PredictionLogWriter
    from mlapi.serving.registry import Registry
    from mlapi.storage.outages import Outage

T = TypeVar("T")


class Slot(Generic[T]):
    """One object of type ``T`` per app, under one key of ``app.extensions``."""

    def __init__(self, key: str) -> None:
        self.key = f"mlapi.{key}"

    def __call__(self, app: Flask | None = None) -> T:
        return (current_app if app is None else app).extensions[self.key]

    def install(self, app: Flask, value: T) -> T:
        app.extensions[self.key] = value
        return value


registry: Slot[Registry] = Slot("registry")
database_outage: Slot[Outage] = Slot("database_outage")
limit_storage_outage: Slot[Outage] = Slot("limit_storage_outage")
verified_keys: Slot[VerifiedKeys] = Slot("verified_keys")
key_usage: Slot[KeyUsage] = Slot("key_usage")
rate_limits: Slot[RateLimits] = Slot("rate_limits")
cors: Slot[Cors | None] = Slot("cors")
access_log: Slot[AccessLog] = Slot("access_log")
held_counts: Slot[HeldCounts] = Slot("held_counts")
prediction_log: Slot[PredictionLogWriter] = Slot("prediction_log")
monitor_summary: Slot[CachedSummary] = Slot("monitor_summary")
alert_evaluator: Slot[AlertEvaluator] = Slot("alert_evaluator")

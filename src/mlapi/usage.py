"""Per-key request counts, kept in memory and written to the database once a second.

A write per request would cost more than authenticating; instead each worker
process adds up its own counts and a background loop flushes them with one
atomic increment per key (so workers never overwrite each other's counts).
``last used`` and ``requests today`` lag by about a second.
"""
from __future__ import annotations

import atexit
import threading
from collections import Counter
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import case, update

from mlapi.auth import ApiKey
from mlapi.background import ProcessLoop
from mlapi.extensions import db


class UsageRecorder:
    """Counts requests per key id in this process; :meth:`flush` writes them."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pending: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.loop = ProcessLoop("mlapi-usage", app.config["USAGE_FLUSH_SECONDS"], self.flush)
        atexit.register(self.flush)

    def add(self, key_id: int) -> None:
        """Count one request for ``key_id``."""
        self.loop.ensure_started()
        with self.lock:
            self.pending[key_id] += 1

    def flush(self) -> None:
        """Write the pending counts: one atomic increment per key."""
        with self.lock:
            counts, self.pending = self.pending, Counter()
        if not counts:
            return
        now = datetime.now(UTC)
        today = now.date()
        with self.app.app_context():
            for key_id, count in counts.items():
                same_day = ApiKey.usage_day == today
                db.session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(
                        last_used_at=now,
                        usage_day=today,
                        requests_on_usage_day=case((same_day, ApiKey.requests_on_usage_day + count), else_=count),
                    )
                )
            db.session.commit()


def init_app(app: Flask) -> UsageRecorder:
    recorder = UsageRecorder(app)
    app.extensions["key_usage"] = recorder
    return recorder

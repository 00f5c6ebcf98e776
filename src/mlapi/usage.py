"""Per-key request counts, kept in memory and written to the database once a second.

A write per request would cost more than authenticating; instead each worker
process adds up its own counts and a background thread flushes them with one
atomic increment per key (so workers never overwrite each other's counts).
``last used`` and ``requests today`` lag by about a second.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import case, update

from mlapi.auth import ApiKey
from mlapi.extensions import db

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0


class UsageRecorder:
    """Counts requests per key id in this process; :meth:`flush` writes them."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pending: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.owner_pid: int | None = None

    def add(self, key_id: int) -> None:
        """Count one request for ``key_id``; start this process's flusher on first use."""
        if self.owner_pid != os.getpid():
            self.start_flusher()
        with self.lock:
            self.pending[key_id] += 1

    def start_flusher(self) -> None:
        """One flushing thread per process (a forked worker starts its own)."""
        self.owner_pid = os.getpid()
        self.pending = Counter()
        self.lock = threading.Lock()
        threading.Thread(target=self.flush_forever, name="mlapi-usage", daemon=True).start()
        atexit.register(self.flush)

    def flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def flush(self) -> None:
        """Write the pending counts: one atomic increment per key."""
        with self.lock:
            counts, self.pending = self.pending, Counter()
        if not counts:
            return
        now = datetime.now(UTC)
        today = now.date()
        try:
            with self.app.app_context():
                for key_id, count in counts.items():
                    same_day = ApiKey.usage_day == today
                    db.session.execute(
                        update(ApiKey).where(ApiKey.id == key_id).values(
                            last_used_at=now,
                            usage_day=today,
                            requests_on_usage_day=case(
                                (same_day, ApiKey.requests_on_usage_day + count), else_=count
                            ),
                        )
                    )
                db.session.commit()
        except Exception:  # noqa: BLE001 - usage counts must never break serving; log and drop them
            log.exception("could not write key usage; %d counts dropped", sum(counts.values()))


def init_app(app: Flask) -> UsageRecorder:
    recorder = UsageRecorder(app)
    app.extensions["key_usage"] = recorder
    return recorder

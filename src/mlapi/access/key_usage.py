"""Per-key request counts, kept in memory and written to the database once a second.

A write per request would cost more than authenticating; instead each worker
process adds up its own counts and a background loop flushes them with one
atomic increment per key (so workers never overwrite each other's counts).
``last used`` and ``requests today`` lag by about a second. While the database is away
the counts wait in memory (a number per key and second of the outage) and are written when it
answers; each batch carries an id recorded in the same transaction, so a write retried after a
commit whose answer was lost is not counted twice.
"""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import case, update

from mlapi import extensions
from mlapi.access.keys import ApiKey
from mlapi.storage.background import Buffer
from mlapi.storage.database import db
from mlapi.storage.outages import BACKGROUND_DEADLINE_SECONDS, deadline, is_outage, not_yet_written


class KeyUsage(Buffer[Counter]):
    """Counts requests per key id in this process; :meth:`flush` writes them."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.held: list[tuple[str, Counter[int]]] = []  # batches a flush could not write: (batch id, counts)
        super().__init__("mlapi-key-usage", app.config["USAGE_FLUSH_SECONDS"])

    def empty(self) -> Counter[int]:
        return Counter()

    def add(self, key_id: int) -> None:
        """Count one request for ``key_id``."""
        self.loop.ensure_started()
        with self.lock:
            self.pending[key_id] += 1

    def write(self, counts: Counter[int]) -> None:
        """Write the counts taken with those held: one atomic increment per key; held with their batch id if
        the database is away."""
        batches = self.held + ([(uuid.uuid4().hex, counts)] if counts else [])
        if not batches:
            return
        database = extensions.database_outage(self.app)
        try:
            self.write_batches(batches)
        except Exception as error:
            if not is_outage(error):
                raise
            database.failed(error)
            self.held = batches
            return
        self.held = []
        database.answered()

    def write_batches(self, batches: list[tuple[str, Counter[int]]]) -> None:
        """The increments of the batches not written yet, in one transaction."""
        now = datetime.now(UTC)
        today = now.date()
        with self.app.app_context():
            try:
                with deadline(BACKGROUND_DEADLINE_SECONDS):
                    fresh = not_yet_written(db.session, [batch_id for batch_id, _ in batches])
                    counts: Counter[int] = sum((batch for batch_id, batch in batches if batch_id in fresh), Counter())
                    for key_id, count in counts.items():
                        same_day = ApiKey.usage_day == today
                        db.session.execute(
                            update(ApiKey).where(ApiKey.id == key_id).values(
                                last_used_at=now,
                                usage_day=today,
                                requests_on_usage_day=case((same_day, ApiKey.requests_on_usage_day + count),
                                                           else_=count),
                            )
                        )
                    db.session.commit()
            except Exception:
                db.session.rollback()
                raise


def init_app(app: Flask) -> KeyUsage:
    return extensions.key_usage.install(app, KeyUsage(app))

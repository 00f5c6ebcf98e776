"""Traffic per minute: what ``/monitor`` reads, so its cost does not grow with the traffic.

Each worker adds every logged prediction to a tally per (minute, use case, version) and
writes its tallies with the prediction log rows, once a second: a row per worker, minute,
use case and version, inserted once and then updated by its id (only its worker writes it).
An hour is then at most 60 rows per worker, use case and version, however many requests it had.
Latencies are kept as counts in fixed buckets, so the hour's percentiles are interpolated
within a bucket (as Prometheus' ``histogram_quantile`` does).
"""
from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy import DateTime, Integer, String, Text, insert, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from mlapi.storage.database import db

LATENCY_BOUNDS_MS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)  # a last bucket above
KEPT_MINUTES = 2  # a tally older than this is written one last time and forgotten


class TrafficMinute(db.Model):
    """One worker's predictions of one use case and version in one minute."""

    __tablename__ = "traffic_minutes"
    id: Mapped[int] = mapped_column(primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime, index=True)  # UTC, naive, at :00
    use_case: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(32))
    requests: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)  # answered 4xx or 5xx (validation and model failures)
    server_errors: Mapped[int | None] = mapped_column(Integer, default=0)  # of them, 5xx: the service's own
    rate_limited: Mapped[int | None] = mapped_column(Integer, default=0)  # refused with 429, apart from requests
    items: Mapped[int] = mapped_column(Integer)  # items of the answered requests
    labels: Mapped[str] = mapped_column(Text)  # JSON {class: items}
    latencies: Mapped[str] = mapped_column(Text)  # JSON counts of answered requests per latency bucket


@dataclass
class Tally:
    """A minute's counts as a worker holds them; ``row_id`` once written."""

    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    rate_limited: int = 0
    items: int = 0
    labels: Counter = field(default_factory=Counter)
    latencies: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    row_id: int | None = None
    changed: bool = True

    def values(self) -> dict:
        return {"requests": self.requests, "errors": self.errors, "server_errors": self.server_errors,
                "rate_limited": self.rate_limited, "items": self.items, "labels": orjson.dumps(self.labels).decode(),
                "latencies": orjson.dumps(self.latencies).decode()}


class Tallies:
    """This worker's tallies, touched only by the prediction log's flush (one at a time).

    A tally holds its minute's totals, not what changed since the last write: writing one
    again after a failed write sets the same values, so nothing is counted twice.
    """

    def __init__(self) -> None:
        self.held: dict[tuple[datetime, str, str | None], Tally] = {}
        self.inserted: list[Tally] = []  # by the write under way: their ids exist only if it commits

    def add(self, at: datetime, use_case: str, version: str | None, status: int, milliseconds: float,
            items: int, classes: Counter) -> None:
        """Count one logged prediction, or one request refused with 429 (counted apart, never logged)."""
        tally = self.held.setdefault((at.replace(second=0, microsecond=0), use_case, version), Tally())
        tally.changed = True
        if status == 429:
            tally.rate_limited += 1
            return
        tally.requests += 1
        if status >= 400:
            tally.errors += 1
            tally.server_errors += status >= 500
            return
        tally.items += items
        tally.labels.update(classes)
        tally.latencies[bisect.bisect_left(LATENCY_BOUNDS_MS, milliseconds)] += 1

    def write(self, session: Session) -> None:
        """Insert or update every changed tally, in the caller's transaction."""
        self.inserted = []
        for (minute, use_case, version), tally in self.held.items():
            if not tally.changed:
                continue
            if tally.row_id is None:
                row = {"minute": minute, "use_case": use_case, "version": version, **tally.values()}
                tally.row_id = session.execute(insert(TrafficMinute).returning(TrafficMinute.id), [row]).scalar()
                self.inserted.append(tally)
            else:
                session.execute(update(TrafficMinute).where(TrafficMinute.id == tally.row_id).values(**tally.values()))

    def written(self, now: datetime) -> None:
        """The write committed: nothing is changed any more, and minutes long past are forgotten."""
        for key, tally in list(self.held.items()):
            tally.changed = False
            if key[0] < now - timedelta(minutes=KEPT_MINUTES):
                del self.held[key]
        self.inserted = []

    def not_written(self) -> None:
        """The write was rolled back: the rows it inserted do not exist."""
        for tally in self.inserted:
            tally.row_id = None
        self.inserted = []


def percentile(latencies: list[int], share: float) -> float | None:
    """The latency under which ``share`` of the counted requests fall, interpolated in its bucket."""
    total = sum(latencies)
    if not total:
        return None
    wanted, seen = share * total, 0
    for bucket, count in enumerate(latencies):
        if count and seen + count >= wanted:
            low = LATENCY_BOUNDS_MS[bucket - 1] if bucket else 0.0
            high = LATENCY_BOUNDS_MS[bucket] if bucket < len(LATENCY_BOUNDS_MS) else LATENCY_BOUNDS_MS[-1]
            return round(low + (high - low) * (wanted - seen) / count, 1)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])

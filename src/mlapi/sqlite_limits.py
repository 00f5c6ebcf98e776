"""A ``limits`` storage over SQLite: counters shared by every worker process on one machine.

Registered with the ``limits`` library under the scheme ``mlapi+sqlite``
(``mlapi+sqlite:////absolute/path/ratelimits.db``), so it is used like the library's
own storages. Each increment is one atomic upsert, so concurrent workers
never lose or double a hit. Supports the fixed-window strategy. A worker that finds
another one writing retries within microseconds (:meth:`SQLiteStorage.run`) rather than
sleeping a millisecond or more as SQLite's own busy handler does.

The upsert also returns the window's end, and each thread remembers it for its last
key: the rate headers read it back straight after the hit (``get_expiry``) at no further
query. It stays exact, since a fixed window's end moves only once it has passed.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import NamedTuple

from limits.storage import Storage

SCHEMA = "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)"
INCREMENT = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN :amount ELSE count + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :now + :expiry ELSE expires_at END
RETURNING count, expires_at
"""
PRUNE_EVERY = 1000  # increments between sweeps of expired counters
BUSY_WAIT_SECONDS = 10.0  # how long a statement waits for another worker's write before failing (open)
FIRST_RETRY_SECONDS = 20e-6  # then doubling: a counter write holds the lock for about 10 µs


class OwnHit(NamedTuple):
    """The window this thread's last increment counted in."""

    key: str
    expires_at: float


class SQLiteStorage(Storage):
    """Fixed-window counters in one SQLite file (WAL mode, one connection per process and thread)."""

    STORAGE_SCHEME = ["mlapi+sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = Path(uri.split("://", 1)[1])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.local = threading.local()
        self.increments = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def connection(self) -> sqlite3.Connection:
        """This process's and thread's connection (a forked worker opens its own).

        Connections are set up one at a time (a lock file beside the database): workers
        opening a new file together would otherwise race to switch it to WAL, and SQLite
        answers the loser "database is locked" at once, without waiting.
        """
        if getattr(self.local, "pid", None) != os.getpid():
            with open(f"{self.path}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                connection = sqlite3.connect(self.path, timeout=BUSY_WAIT_SECONDS, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute(SCHEMA)
                connection.execute("PRAGMA busy_timeout=0")  # from now on :meth:`run` waits, in microseconds
            self.local.connection, self.local.pid = connection, os.getpid()
        return self.local.connection

    def run(self, sql: str, parameters: dict | tuple = ()) -> sqlite3.Cursor:
        """Execute ``sql``, retrying at once while another worker holds the write lock.

        SQLite's own busy handler sleeps 1 ms at least; a counter write holds the lock for
        microseconds, so waits start at FIRST_RETRY_SECONDS and double, for BUSY_WAIT_SECONDS in all.
        """
        connection, delay, deadline = self.connection(), FIRST_RETRY_SECONDS, time.monotonic() + BUSY_WAIT_SECONDS
        while True:
            try:
                return connection.execute(sql, parameters)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(2 * delay, 0.01)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        values = {"key": key, "amount": amount, "now": now, "expiry": expiry}
        count, expires_at = self.run(INCREMENT, values).fetchone()
        self.local.own_hit = OwnHit(key, expires_at)
        self.increments += 1
        if self.increments % PRUNE_EVERY == 0:
            self.run("DELETE FROM counters WHERE expires_at <= ?", (now,))
        return count

    def get(self, key: str) -> int:
        row = self.run(
            "SELECT count FROM counters WHERE key = ? AND expires_at > ?", (key, time.time())
        ).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        hit = getattr(self.local, "own_hit", None)
        if hit is not None and hit.key == key and hit.expires_at > time.time():
            return hit.expires_at  # this thread's own window, still open
        row = self.run(
            "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, time.time())
        ).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        try:
            self.run("SELECT 1")
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int | None:
        self.local.own_hit = None
        return self.run("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self.local.own_hit = None
        self.run("DELETE FROM counters WHERE key = ?", (key,))

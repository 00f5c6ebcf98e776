"""The SQLite limit storage: counts across workers, the window's end read back at no query, workers start together."""
import multiprocessing
import sqlite3
import threading

import pytest

from mlapi import sqlite_limits
from mlapi.sqlite_limits import SQLiteStorage


@pytest.fixture
def storages(tmp_path):
    """Two storages on one file, as two workers would have."""
    uri = f"mlapi+sqlite:///{tmp_path / 'limits.db'}"
    return SQLiteStorage(uri), SQLiteStorage(uri)


def stored(storage: SQLiteStorage, key: str) -> tuple[int, float]:
    return storage.connection().execute("SELECT count, expires_at FROM counters WHERE key = ?", (key,)).fetchone()


def test_counts_add_up_across_workers_and_the_window_end_is_as_stored(storages):
    mine, other = storages
    other.incr("k", 60, 2)
    assert mine.incr("k", 60, 3) == 5
    count, expires_at = stored(mine, "k")
    assert mine.get("k") == other.get("k") == count == 5
    assert mine.get_expiry("k") == other.get_expiry("k") == expires_at


def test_another_key_or_a_passed_window_is_read_from_the_file(storages, monkeypatch):
    mine, other = storages
    mine.incr("k", 60)
    other.incr("other-key", 60)
    assert mine.get_expiry("other-key") == stored(mine, "other-key")[1]
    later = sqlite_limits.time.time() + 61
    monkeypatch.setattr(sqlite_limits.time, "time", lambda: later)
    assert mine.get("k") == 0 and mine.get_expiry("k") == later  # the window has passed


def test_clear_forgets_the_own_window(storages):
    mine, _ = storages
    mine.incr("k", 60)
    mine.clear("k")
    assert mine.get("k") == 0 and mine.incr("k", 60) == 1


def count_five(uri: str, start: multiprocessing.Barrier) -> None:
    storage = SQLiteStorage(uri)
    start.wait()
    for _ in range(5):
        storage.incr("k", 60)


def test_workers_opening_a_new_file_together_all_count(tmp_path):
    """They used to race to switch the file to WAL; SQLite refused the loser at once ("database is locked")."""
    context = multiprocessing.get_context("fork")  # as gunicorn's workers are made
    for trial in range(10):
        uri = f"mlapi+sqlite:///{tmp_path / f'limits-{trial}.db'}"
        start = context.Barrier(4)
        workers = [context.Process(target=count_five, args=(uri, start)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
        assert SQLiteStorage(uri).get("k") == 20


def hold_the_write_lock(path, seconds: float) -> threading.Thread:
    """Another writer holding the file's write lock for ``seconds``, in a thread."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: (holder.execute("COMMIT"), holder.close()))
    release.start()
    return release


def test_a_write_waits_for_another_workers_lock_then_counts(storages, tmp_path):
    mine, _ = storages
    mine.incr("k", 60)
    release = hold_the_write_lock(tmp_path / "limits.db", 0.05)
    assert mine.incr("k", 60) == 2  # waited in short retries instead of failing
    release.join()


def test_a_lock_held_past_the_wait_fails(storages, tmp_path, monkeypatch):
    mine, _ = storages
    mine.incr("k", 60)
    monkeypatch.setattr(sqlite_limits, "BUSY_WAIT_SECONDS", 0.02)
    release = hold_the_write_lock(tmp_path / "limits.db", 0.3)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        mine.incr("k", 60)
    release.join()
    assert mine.incr("k", 60) == 2

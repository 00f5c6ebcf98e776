"""The SQLite limit storage: the read-back after a hit costs no query and stays right; workers start together."""
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


def test_the_own_hit_answers_get_and_get_expiry_as_stored(storages):
    mine, other = storages
    other.incr("k", 60, 2)
    assert mine.incr("k", 60, 3) == 5
    count, expires_at = stored(mine, "k")
    assert mine.get("k") == count == 5 and mine.get_expiry("k") == expires_at


def test_another_key_or_an_old_hit_is_read_from_the_file(storages, monkeypatch):
    mine, other = storages
    mine.incr("k", 60)
    other.incr("k", 60, 4)
    assert mine.get("other-key") == 0
    assert mine.get("k") == 1  # its own hit, just now
    clock = sqlite_limits.time.monotonic() + sqlite_limits.OWN_HIT_SECONDS + 1
    monkeypatch.setattr(sqlite_limits.time, "monotonic", lambda: clock)
    assert mine.get("k") == 5


def test_clear_forgets_the_own_hit(storages):
    mine, _ = storages
    mine.incr("k", 60)
    mine.clear("k")
    assert mine.get("k") == 0


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

"""The LMDB limit storage: exact counts across forked workers, fixed windows, pruning."""
import gc
import multiprocessing
import os
from pathlib import Path

import pytest
from limits import parse
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from mlapi.access import lmdb_storage
from mlapi.access.lmdb_storage import LMDBStorage


@pytest.fixture
def uri(tmp_path):
    return f"mlapi+lmdb:///{tmp_path / 'limits'}?map_mb=1"


def test_counts_add_up_and_the_window_end_is_kept(tmp_path):
    storage = LMDBStorage(f"mlapi+lmdb:///{tmp_path / 'var' / 'not' / 'made' / 'yet'}?map_mb=1")
    assert storage.incr("k", 60, 2) == 2
    opened_until = storage.get_expiry("k")
    assert storage.incr("k", 60, 3) == 5
    assert storage.get("k") == 5 and storage.get_expiry("k") == opened_until
    assert storage.get("other") == 0


def test_a_passed_window_starts_again_from_the_hit(uri, monkeypatch):
    storage = LMDBStorage(uri)
    storage.incr("k", 60, 7)
    later = lmdb_storage.time.time() + 61
    monkeypatch.setattr(lmdb_storage.time, "time", lambda: later)
    assert storage.get("k") == 0 and storage.get_expiry("k") == later
    assert storage.incr("k", 60) == 1 and storage.get_expiry("k") == later + 60


def test_an_increment_answers_its_window_end_from_the_same_transaction(uri, monkeypatch):
    storage = LMDBStorage(uri)
    count, ends_at = storage.incr_with_expiry("k", 60, 2)
    assert count == 2 and ends_at == storage.get_expiry("k")
    assert storage.incr_with_expiry("k", 60, 3) == (5, ends_at)
    later = ends_at + 1
    monkeypatch.setattr(lmdb_storage.time, "time", lambda: later)
    assert storage.incr_with_expiry("k", 60) == (1, later + 60)  # the window passed: a new one opens


def test_a_key_too_long_for_lmdb_still_counts_on_its_own(uri):
    storage, long_key = LMDBStorage(uri), "mlapi/ip:" + "x" * 600
    assert [storage.incr(long_key, 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get(long_key + "y") == 0 and storage.get(long_key) == 3


def test_prune_removes_only_passed_windows(uri, monkeypatch):
    storage = LMDBStorage(uri)
    storage.incr("short", 1)
    storage.incr("long", 600)
    assert storage.prune(lmdb_storage.time.time() + 2) == 1
    assert storage.get("long") == 1
    monkeypatch.setattr(lmdb_storage, "PRUNE_EVERY", 2)
    monkeypatch.setattr(lmdb_storage.time, "time", lambda: 10 ** 12)  # every window has passed
    storage.increments = 0
    storage.incr("new", 60)
    storage.incr("new", 60)  # the second increment sweeps
    with storage.environment().begin() as transaction:
        assert [name for name, _ in transaction.cursor()] == [b"new"]


def test_clear_and_reset(uri):
    storage = LMDBStorage(uri)
    storage.incr("a", 60)
    storage.incr("b", 60)
    storage.clear("a")
    assert storage.get("a") == 0 and storage.get("b") == 1
    assert storage.reset() == 1 and storage.get("b") == 0


def test_registered_for_limits_fixed_window(uri):
    storage = storage_from_string(uri)
    assert isinstance(storage, LMDBStorage) and storage.check()
    limiter, limit = FixedWindowRateLimiter(storage), parse("3/minute")
    assert [limiter.hit(limit, "caller") for _ in range(4)] == [True, True, True, False]


def files_open_in(folder: Path) -> int:
    """How many of this process's open files are in ``folder``."""
    return sum(1 for fd in os.listdir("/proc/self/fd") if opened_file(fd).parent == folder)


def opened_file(fd: str) -> Path:
    try:
        return Path(f"/proc/self/fd/{fd}").readlink()
    except FileNotFoundError:  # closed meanwhile (listdir's own, for one)
        return Path()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see open files")
def test_storages_share_one_environment_and_the_last_one_closes_it(tmp_path):
    folder = tmp_path / "limits"
    first, second = (LMDBStorage(f"mlapi+lmdb:///{folder}?map_mb=1") for _ in range(2))
    first.incr("k", 60)
    assert second.incr("k", 60) == 2 and second.environment() is first.environment()
    assert files_open_in(folder) > 0
    del first, second
    gc.collect()
    assert files_open_in(folder) == 0  # an app dropped (a test's, say) leaves no files open
    assert LMDBStorage(f"mlapi+lmdb:///{folder}?map_mb=1").get("k") == 2


def count(uri: str, start: multiprocessing.Barrier, hits: int) -> None:
    storage = LMDBStorage(uri)
    start.wait()
    for _ in range(hits):
        storage.incr("k", 60)


def test_forked_workers_never_lose_or_double_a_hit(uri):
    """Workers forked from a process that already used the folder, as gunicorn's are from a preloaded app."""
    parent = LMDBStorage(uri)
    parent.incr("k", 60)
    context = multiprocessing.get_context("fork")
    start = context.Barrier(4)
    workers = [context.Process(target=count, args=(uri, start, 500)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert parent.get("k") == 1 + 4 * 500
    assert parent.incr("k", 60) == 2002  # the parent's own environment still works after its children


def test_an_unusable_folder_fails_as_a_storage_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    storage = LMDBStorage(f"mlapi+lmdb:///{blocked / 'limits'}?map_mb=1", wrap_exceptions=True)
    assert storage.check() is False
    with pytest.raises(StorageError):  # rate_limits.py answers without a limit, and logs and counts it
        storage.incr("k", 60)
    with pytest.raises(StorageError):
        storage.incr_with_expiry("k", 60)


def reopened(storage: LMDBStorage, uri: str) -> LMDBStorage:
    """A new storage on the same folder, after the old one's environment closed."""
    del storage
    gc.collect()
    return LMDBStorage(uri)


@pytest.mark.skipif(lmdb_storage.this_boot() is None, reason="writemap is used only where the boot id is known")
def test_writes_go_through_the_map_into_a_file_allocated_on_disk(uri, tmp_path):
    storage = LMDBStorage(uri)
    storage.incr("k", 60)
    assert storage.environment().flags()["writemap"] is True
    data = os.stat(tmp_path / "limits" / "data.mdb")
    assert data.st_size == 1 << 20 and data.st_blocks * 512 >= 1 << 20  # no hole to fault on with a full disk


def test_a_disk_that_refuses_the_file_falls_back_to_plain_writes(uri, monkeypatch):
    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lmdb_storage.os, "posix_fallocate", refuse)
    storage = LMDBStorage(uri)
    assert storage.incr("k", 60, 2) == 2 and storage.environment().flags()["writemap"] is False


@pytest.mark.skipif(lmdb_storage.this_boot() is None, reason="needs the machine's boot id")
def test_counters_left_by_an_earlier_boot_are_discarded_and_this_boots_are_kept(uri, tmp_path):
    storage = LMDBStorage(uri)
    storage.incr("k", 60, 3)
    storage = reopened(storage, uri)
    assert storage.get("k") == 3  # the same boot: kept
    marker = tmp_path / "limits" / "boot_id"
    assert marker.read_text() == lmdb_storage.this_boot()
    marker.write_text("an earlier boot")
    storage = reopened(storage, uri)
    assert storage.get("k") == 0 and marker.read_text() == lmdb_storage.this_boot()


def test_without_a_boot_id_nothing_is_discarded_and_writes_are_plain(uri, tmp_path, monkeypatch):
    monkeypatch.setattr(lmdb_storage, "BOOT_ID", tmp_path / "no-such-file")
    storage = LMDBStorage(uri)
    storage.incr("k", 60, 3)
    storage = reopened(storage, uri)
    assert storage.get("k") == 3 and storage.environment().flags()["writemap"] is False
    assert not (tmp_path / "limits" / "boot_id").exists()


@pytest.mark.parametrize("query", ["map_mb=0", "map_mb=big", "map_mb=1&map_mb=2", "map_mb=-3"])
def test_a_bad_file_size_is_refused_at_start(tmp_path, query):
    with pytest.raises(ConfigurationError, match="map_mb"):
        LMDBStorage(f"mlapi+lmdb:///{tmp_path / 'limits'}?{query}")


def test_the_file_size_defaults_to_64_mb(tmp_path):
    assert LMDBStorage(f"mlapi+lmdb:///{tmp_path / 'limits'}").map_bytes == 64 << 20


def test_a_pair_counts_the_second_only_when_the_first_passed_and_the_second_fits(uri):
    storage = storage_from_string(uri)
    both = storage.incr_pair(("requests", 60, 1), 2, ("items", 60, 5), 8)
    assert (both[0][0], both[1][0]) == (1, 5)
    too_many_items = storage.incr_pair(("requests", 60, 1), 2, ("items", 60, 5), 8)
    assert (too_many_items[0][0], too_many_items[1][0]) == (2, 10)  # answered as if counted: it shows exceeded
    assert storage.get("items") == 5  # but not written
    storage.incr_pair(("requests", 60, 1), 2, ("items", 60, 1), 8)  # the third request is over its limit of 2
    assert (storage.get("requests"), storage.get("items")) == (3, 5)  # it counts; its items are not touched

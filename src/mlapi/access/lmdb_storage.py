"""A ``limits`` storage over LMDB: counters shared by every worker process on one machine.

Registered with the ``limits`` library under the scheme ``mlapi+lmdb``
(``mlapi+lmdb:////absolute/path/ratelimits``, a folder; ``?map_mb=N`` sets the file's size,
64 MB by default), so it is used like the library's own storages. LMDB is a memory-mapped
B-tree with one writer at a time across processes: an increment is one write transaction
(read the counter, add, write it back), so concurrent workers never lose or double a hit.
It costs a fraction of the SQLite upsert it replaced, with fewer system calls
(docs/performance.md). Supports the fixed-window strategy.

Commits are not flushed to disk (``sync=False``): a crashed worker loses nothing, since the
operating system holds its writes. On Linux, transactions write into the mapped file itself
(``writemap``, measurably more requests a second under load), which has two costs,
both met here: a crash of the machine could leave the file damaged, so counters left by an
earlier boot (``/proc/sys/kernel/random/boot_id``) are discarded on opening (their one-minute
windows have passed anyway); and writing a page of a sparse file on a full disk would kill the
worker with SIGBUS, so the whole file is allocated on disk first (``posix_fallocate``). Where
either is impossible, transactions are written with ``pwrite`` as before, and a full disk
fails the increment, which limits then fail open. A full file fails it the same way.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import struct
import threading
import time
import weakref
from pathlib import Path
from urllib.parse import parse_qs

import lmdb
from limits.errors import ConfigurationError, StorageError
from limits.storage import Storage

log = logging.getLogger(__name__)
COUNTER = struct.Struct("<qd")  # units counted, the window's end in epoch seconds
MAP_MB = 64  # the file's size, allocated on disk at once: about 500,000 counters (66,800 fitted in 8 MB)
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")  # Linux: a new id at every boot
PRUNE_EVERY = 1000  # increments between sweeps of expired counters
MAX_NAME_BYTES = 511  # LMDB's longest key


def stored_name(key: str) -> bytes:
    """The LMDB key of a counter: the key itself, or its SHA-256 when it is too long to store."""
    name = key.encode()
    return name if len(name) <= MAX_NAME_BYTES else b"sha256:" + hashlib.sha256(name).digest()


def bump(transaction: lmdb.Transaction, name: bytes, expiry: int, amount: int, now: float,
         allowed: int | None) -> tuple[int, float]:
    """Add ``amount`` to a counter in ``transaction`` (a passed window starts again), and write it unless the
    count would pass ``allowed``; the count as if written, and the window's end."""
    stored = transaction.get(name)
    count, expires_at = COUNTER.unpack(stored) if stored is not None else (0, now)
    if expires_at <= now:
        count, expires_at = 0, now + expiry
    count += amount
    if allowed is None or count <= allowed:
        transaction.put(name, COUNTER.pack(count, expires_at))
    return count, expires_at


def this_boot() -> str | None:
    """The id of the machine's current boot, or None where the system does not tell it."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return None


def forget_earlier_boots(path: Path, boot: str) -> None:
    """Delete the counters if an earlier boot left them: only a machine crash could have damaged them.

    The first process to open the folder in this boot does it, under a lock, before LMDB opens
    it; every later one finds the boot's id already written.
    """
    path.mkdir(exist_ok=True)
    with (path / "boot.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        marker = path / "boot_id"
        if not marker.is_file() or marker.read_text() != boot:
            for name in ("data.mdb", "lock.mdb"):
                (path / name).unlink(missing_ok=True)
            marker.write_text(boot)


def allocate(file: Path, size: int) -> bool:
    """Allocate ``file`` on disk up to ``size`` bytes (its content kept); False if the disk refuses."""
    try:
        descriptor = os.open(file, os.O_RDWR)
        try:
            os.posix_fallocate(descriptor, 0, size)
        finally:
            os.close(descriptor)
        return True
    except OSError as error:
        log.warning("rate-limit counters: %s not allocated on disk (%s), so written without writemap", file, error)
        return False


class Opened:
    """One process's environment on one folder, shared by that process's storages on it.

    LMDB must not open its files twice in one process, nor use a handle across fork. The
    environment closes (its files too) once the last storage using it is gone.
    """

    def __init__(self, path: Path, map_bytes: int) -> None:
        self.pid = os.getpid()
        path.parent.mkdir(parents=True, exist_ok=True)  # LMDB makes the folder, not its parents
        boot = this_boot()  # known on Linux, which has posix_fallocate too
        if boot is not None:
            forget_earlier_boots(path, boot)
        writemap = boot is not None
        self.handle = self.open_environment(path, map_bytes, writemap)
        if writemap and not allocate(path / "data.mdb", map_bytes):
            self.handle.close()
            self.handle = self.open_environment(path, map_bytes, writemap=False)

    @staticmethod
    def open_environment(path: Path, map_bytes: int, writemap: bool) -> lmdb.Environment:
        return lmdb.open(str(path), map_size=map_bytes, sync=False, metasync=False, readahead=False,
                         writemap=writemap)


_opened: weakref.WeakValueDictionary[Path, Opened] = weakref.WeakValueDictionary()
_opening = threading.Lock()


def shared_environment(path: Path, map_bytes: int) -> Opened:
    """This process's environment on the folder ``path``, opened if no storage has it open.

    A forked worker closes the copy it inherited (which leaves its parent's locks alone:
    they belong to the parent process) and opens its own.
    """
    with _opening:
        opened = _opened.get(path)
        if opened is None or opened.pid != os.getpid():
            if opened is not None:
                opened.handle.close()
            opened = _opened[path] = Opened(path, map_bytes)
        return opened


def map_megabytes(query: str) -> int:
    """The ``map_mb`` of a storage URI's query (MAP_MB if absent).

    :raises ConfigurationError: not a whole number of megabytes from 1 on.
    """
    values = parse_qs(query).get("map_mb", [str(MAP_MB)])
    if len(values) != 1 or not values[0].isdigit() or int(values[0]) < 1:
        raise ConfigurationError(f"mlapi+lmdb: map_mb must be a whole number of megabytes from 1 on, not {values}")
    return int(values[0])


class LMDBStorage(Storage):
    """Fixed-window counters in one LMDB folder: key -> (count, window end)."""

    STORAGE_SCHEME = ["mlapi+lmdb"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        location, _, query = uri.split("://", 1)[1].partition("?")
        self.path = Path(location).resolve()
        self.map_bytes = map_megabytes(query) << 20
        self.opened: Opened | None = None
        self.increments = 0

    def environment(self) -> lmdb.Environment:
        """The environment this process uses for this storage's folder."""
        opened = self.opened
        if opened is None or opened.pid != os.getpid():
            self.opened = opened = shared_environment(self.path, self.map_bytes)
        return opened.handle

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return lmdb.Error, OSError  # OSError: the folder cannot be made or opened

    def counter(self, key: str) -> tuple[int, float] | None:
        """The counter of ``key`` if its window is open."""
        with self.environment().begin() as transaction:
            stored = transaction.get(stored_name(key))
        if stored is None:
            return None
        count, expires_at = COUNTER.unpack(stored)
        return (count, expires_at) if expires_at > time.time() else None

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.incr_with_expiry(key, expiry, amount)[0]

    def incr_with_expiry(self, key: str, expiry: int, amount: int = 1) -> tuple[int, float]:
        """:meth:`incr`, also answering the window's end (epoch seconds) from the same transaction.

        :raises StorageError: LMDB failed, when the storage wraps errors (as ``limits`` wraps ``incr``).
        """
        try:
            return self.increment(key, expiry, amount)
        except self.base_exceptions as error:
            if self.wrap_exceptions:
                raise StorageError(error) from error
            raise

    def increment(self, key: str, expiry: int, amount: int) -> tuple[int, float]:
        """The hit itself: one write transaction, then a sweep every PRUNE_EVERY hits."""
        now, name = time.time(), stored_name(key)
        with self.environment().begin(write=True) as transaction:
            stored = transaction.get(name)
            count, expires_at = COUNTER.unpack(stored) if stored is not None else (0, now)
            if expires_at <= now:  # no window yet, or it has passed: this hit opens one
                count, expires_at = 0, now + expiry
            count += amount
            transaction.put(name, COUNTER.pack(count, expires_at))
        self.increments += 1
        if self.increments % PRUNE_EVERY == 0:
            self.prune(now)
        return count, expires_at

    def incr_pair(self, first: tuple[str, int, int], first_allowed: int, second: tuple[str, int, int],
                  second_allowed: int) -> tuple[tuple[int, float], tuple[int, float]]:
        """Two counters in one write transaction: ``first`` (key, expiry, amount) always counts; ``second`` counts
        only if ``first`` stayed within ``first_allowed`` and ``second`` fits within ``second_allowed``.

        Each answer is (count, window end), the second's as if it had counted (so a caller sees it passed).

        :raises StorageError: LMDB failed, when the storage wraps errors.
        """
        now = time.time()
        try:
            with self.environment().begin(write=True) as transaction:
                spent = bump(transaction, stored_name(first[0]), first[1], first[2], now, None)
                taken = (bump(transaction, stored_name(second[0]), second[1], second[2], now, second_allowed)
                         if spent[0] <= first_allowed else (0, now))
        except self.base_exceptions as error:
            if self.wrap_exceptions:
                raise StorageError(error) from error
            raise
        self.increments += 1
        if self.increments % PRUNE_EVERY == 0:
            self.prune(now)
        return spent, taken

    def prune(self, now: float) -> int:
        """Delete the counters whose window has passed; how many went."""
        with self.environment().begin(write=True) as transaction:
            passed = [name for name, stored in transaction.cursor() if COUNTER.unpack(stored)[1] <= now]
            for name in passed:
                transaction.delete(name)
        return len(passed)

    def get(self, key: str) -> int:
        counter = self.counter(key)
        return counter[0] if counter else 0

    def get_expiry(self, key: str) -> float:
        counter = self.counter(key)
        return counter[1] if counter else time.time()

    def check(self) -> bool:
        try:
            self.environment().stat()
            return True
        except self.base_exceptions:
            return False

    def reset(self) -> int | None:
        return self.prune(math.inf)

    def clear(self, key: str) -> None:
        with self.environment().begin(write=True) as transaction:
            transaction.delete(stored_name(key))

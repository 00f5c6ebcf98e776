"""Work done off the request path: a loop per process, and the buffers it flushes.

Gunicorn forks its workers from a master that loaded the app (``--preload``),
and threads do not survive a fork, so each loop starts on first use in each
process rather than at import.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Pending = TypeVar("Pending")


class ProcessLoop:
    """Calls ``work`` every ``seconds`` in a daemon thread, once started in this process."""

    def __init__(self, name: str, seconds: float, work: Callable[[], None]) -> None:
        self.name = name
        self.seconds = seconds
        self.work = work
        self.pid: int | None = None
        self.starting = threading.Lock()  # a gthread worker's threads may all ask at once

    def ensure_started(self) -> None:
        """Start the loop unless it already runs in this process (cheap enough for every request).

        A period of 0 means no loop: the owner's work is then called by hand (tests).
        """
        if self.seconds > 0 and self.pid != os.getpid():
            with self.starting:
                if self.pid != os.getpid():
                    self.pid = os.getpid()
                    threading.Thread(target=self.run, name=self.name, daemon=True).start()

    def run(self) -> None:
        while True:
            time.sleep(self.seconds)
            try:
                self.work()
            except Exception:  # noqa: BLE001 - a failed round is logged; the loop must keep going
                log.exception("%s: round failed", self.name)


class Buffer(Generic[Pending]):
    """What requests hand over to be written later: held under a lock, flushed by a loop and at exit.

    A subclass says what an empty buffer is (:meth:`empty`), how a request adds to it
    (:meth:`add`, under ``self.lock``) and how a flush writes what it took (:meth:`write`).
    The loop calls :meth:`each_round` every ``seconds`` (the flush, unless a subclass does more);
    a worker that stops flushes what it still holds.
    """

    def __init__(self, name: str, seconds: float) -> None:
        self.lock = threading.Lock()  # requests add while a flush takes
        self.pending: Pending = self.empty()
        self.loop = ProcessLoop(name, seconds, self.each_round)
        atexit.register(self.flush)

    def empty(self) -> Pending:
        raise NotImplementedError

    def write(self, taken: Pending) -> None:
        raise NotImplementedError

    def take(self) -> Pending:
        """What is held, leaving the buffer empty."""
        with self.lock:
            taken, self.pending = self.pending, self.empty()
        return taken

    def flush(self) -> None:
        self.write(self.take())

    def each_round(self) -> None:
        self.flush()

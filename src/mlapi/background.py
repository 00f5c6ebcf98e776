"""A loop that runs in a background thread of each process that uses it.

Gunicorn forks its workers from a master that loaded the app (``--preload``),
and threads do not survive a fork, so each loop starts on first use in each
process rather than at import.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


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

"""When the database or the limit storage goes away: keep answering, hold what must be written, say it once.

Only bookkeeping needs the database while serving: models are in memory. So during an outage
keys verified in the last ``KEY_GRACE_SECONDS`` keep working (:mod:`mlapi.access.keys`), prediction-log rows,
traffic tallies and usage counts wait in memory (:mod:`mlapi.observability.prediction_log`,
:mod:`mlapi.access.key_usage`),
and what truly needs the database (a key never seen, a version switch) is a 503 with
``Retry-After``, never a 500.

:class:`Outage` says it once: the first worker to notice logs one line and the one that sees
the service again logs one more (how long, what was held), whichever workers they are: a flag
file in the folder the workers share (gunicorn's metrics folder) tells them apart. Its gauge
(``mlapi_database_up``, ``mlapi_ratelimit_storage_up``) is 0 while any worker finds it down.

A stalled connection (a dead link, a proxy that stops forwarding) cannot hold a request:
PostgreSQL connections get a connect timeout, TCP keep-alives and a user timeout, and every
statement a request waits for runs under :func:`deadline`, which shuts the connection's
socket when it is past due.
"""
from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask, Response, current_app
from prometheus_client import Gauge
from sqlalchemy import DateTime, String, delete, exc, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mlapi import extensions
from mlapi.errors import MlapiError, render_error
from mlapi.observability.metrics import database_up, ratelimit_storage_up, summed
from mlapi.storage.database import db

log = logging.getLogger("mlapi.storage.outages")
RETRY_AFTER_SECONDS = 5
REQUEST_DEADLINE_SECONDS = 2.0  # what a request waits for the database at most before its 503
BACKGROUND_DEADLINE_SECONDS = 10.0  # what a background write waits before it is tried again later
FLAP_SECONDS = 3.0  # a failure this soon after the service came back belongs to the outage just said


class WrittenBatch(db.Model):
    """A batch of held writes that committed: a write retried after a commit whose answer was lost
    finds its batch here and is not applied twice."""

    __tablename__ = "written_batches"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)


def not_yet_written(session: Session, batch_ids: list[str]) -> set[str]:
    """Which of ``batch_ids`` have not committed yet; records them as written (in the caller's transaction)."""
    done = set(session.scalars(select(WrittenBatch.id).where(WrittenBatch.id.in_(batch_ids))))
    fresh = [batch_id for batch_id in batch_ids if batch_id not in done]
    if fresh:
        now = datetime.now(UTC).replace(tzinfo=None)
        session.execute(insert(WrittenBatch), [{"id": batch_id, "at": now} for batch_id in fresh])
    return set(fresh)


def forget_written_batches(session: Session, days: float = 1.0) -> None:
    """Drop the record of batches written more than ``days`` ago: no retry comes that late."""
    session.execute(delete(WrittenBatch).where(WrittenBatch.at < datetime.now(UTC).replace(tzinfo=None)
                                               - timedelta(days=days)))


class DatabaseUnavailable(MlapiError):
    """The database cannot be reached (or did not answer in time) for something that needs it."""

    status = 503


def is_outage(error: BaseException) -> bool:
    """An error that means the database is unreachable or stalled, not that a statement was wrong."""
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, DatabaseUnavailable)):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


class Outage:
    """One service's state in this worker, said once across the workers that share ``folder``."""

    def __init__(self, name: str, gauge: Gauge, folder: Path, details: Callable[[], str],
                 held: Callable[[], str]) -> None:
        self.name = name
        self.gauge = gauge
        self.flag = folder / f"mlapi-{name.replace(' ', '-')}-down"
        self.back = folder / f"mlapi-{name.replace(' ', '-')}-back"  # touched when it was last seen back
        self.details = details  # what the service's absence means, for the first line
        self.held = held  # what was held meanwhile, for the last
        self.down_since: float | None = None
        self.lock = threading.Lock()
        gauge.set(1)
        # A forked worker's gauge starts from a file of its own, at 0: it says the state it inherited.
        os.register_at_fork(after_in_child=lambda: gauge.set(0 if self.down_since is not None else 1))

    @property
    def up(self) -> bool:
        return self.down_since is None

    def failed(self, error: BaseException) -> None:
        """The service did not answer: the first worker to notice says so."""
        with self.lock:
            if self.down_since is not None:
                return
            self.down_since = time.time()
            self.gauge.set(0)
        if self.just_back():
            return  # a call made before it came back, failing late: the same outage, already said
        try:
            descriptor = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # another worker said it
        with os.fdopen(descriptor, "w") as handle:
            handle.write(str(self.down_since))
        log.error("%s unreachable (%s): %s", self.name, type(error).__name__, self.details())

    def absorb(self, error: Exception) -> None:
        """Re-raise ``error`` unless it means the database is away; else end the session's transaction and say so."""
        if not is_outage(error):
            raise error
        db.session.rollback()
        self.failed(error)

    def answered(self) -> None:
        """The service answered: the worker that first sees it back says how long it was away."""
        if self.down_since is None:
            return
        with self.lock:
            if self.down_since is None:
                return
            self.down_since = None
            self.gauge.set(1)
        try:
            since = float(self.flag.read_text() or time.time())
            self.flag.unlink()
        except (OSError, ValueError):
            return  # another worker said it
        self.back.touch()
        log.warning("%s reachable again after %.1f s; %s", self.name, time.time() - since, self.held())


    def just_back(self) -> bool:
        """Whether some worker saw the service come back in the last FLAP_SECONDS."""
        try:
            return time.time() - self.back.stat().st_mtime < FLAP_SECONDS
        except OSError:
            return False


def shared_folder() -> Path:
    """The folder every worker of this server shares: gunicorn's metrics folder, else one of this process."""
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(shared) if shared else Path(tempfile.mkdtemp(prefix="mlapi-outages-"))


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Statements of the current session that run past ``seconds`` fail (their socket is shut), not hang.

    The block's transaction is ended within the deadline: commit inside it to keep a write, and
    read what you need of loaded rows inside it too. A connection whose socket was shut is
    invalidated, so nothing uses it again, not even the rollback at the end of the request.
    Only network databases are watched; an embedded SQLite has its own busy timeout.
    """
    connection = db.session.connection()
    dbapi_connection = connection.connection.dbapi_connection
    if db.engine.dialect.name == "sqlite" or not hasattr(dbapi_connection, "fileno"):
        yield
        return
    fired = threading.Event()
    timer = threading.Timer(seconds, shut, args=(dbapi_connection.fileno(), fired))
    timer.daemon = True
    timer.start()
    try:
        yield
        db.session.rollback()  # end the transaction while the timer still watches: nothing waits at teardown
    finally:
        timer.cancel()
        if fired.is_set() and not connection.closed:  # a rollback that failed on the shut socket closed it already
            connection.invalidate()


def shut(fileno: int, fired: threading.Event) -> None:
    """Shut the socket behind ``fileno`` both ways, so a read blocked on it returns an error at once."""
    fired.set()
    try:
        with socket.socket(fileno=os.dup(fileno)) as stalled:
            stalled.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def release_session(_error: BaseException | None) -> None:
    """End the request's session; one whose connection broke in an outage is dropped, not rolled back."""
    try:
        db.session.remove()
    except Exception as error:  # noqa: BLE001 - the rollback of a dead connection: drop it
        db.session.invalidate()
        db.session.remove()
        if not is_outage(error):
            raise


def postgres_options(url: str) -> dict:
    """Engine options that bound how long a PostgreSQL connection can wait.

    No ``pool_pre_ping``: its ping runs before :func:`deadline` can watch the connection, so a
    stalled link would hold it; a connection found broken is invalidated with its pool instead.
    """
    if not url.startswith("postgresql"):
        return {}
    return {"pool_timeout": REQUEST_DEADLINE_SECONDS, "connect_args": {
        "connect_timeout": 2, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
        "keepalives_count": 2, "tcp_user_timeout": 5000}}


def unavailable(error: Exception) -> Response:
    """A 503 with Retry-After for a request that needed the database while it is away (said once, no traceback)."""
    database = current_database()
    if database is not None and not isinstance(error, DatabaseUnavailable):
        database.failed(error)
    detail = error.detail if isinstance(error, DatabaseUnavailable) else (
        "The database cannot be reached right now, so this cannot be done; nothing was changed. "
        "Try again in a few seconds.")
    response = render_error(503, detail, code="database_unavailable")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def current_database() -> Outage | None:
    return current_app.extensions.get(extensions.database_outage.key)


def init_app(app: Flask) -> Outage:
    """The app's database state, and the 503 for requests that need the database while it is away."""
    folder = shared_folder()
    grace = app.config["KEY_GRACE_SECONDS"]
    outage = Outage("database", database_up, folder, lambda: (
        f"keys verified in the last {grace:.0f} s keep working, new keys get 503; prediction-log rows "
        "and usage counts are held in memory until it answers"), lambda: (
        f"the workers are writing the {summed('mlapi_held_log_rows'):.0f} prediction-log rows and the usage "
        "counts they held"))
    extensions.database_outage.install(app, outage)
    extensions.limit_storage_outage.install(app, Outage(
        "rate-limit storage", ratelimit_storage_up, folder,
        lambda: "requests are answered without limits until it answers", lambda: "limits are counted again"))
    app.teardown_appcontext(release_session)  # runs before Flask-SQLAlchemy's own removal
    app.register_error_handler(DatabaseUnavailable, unavailable)
    for error in (exc.OperationalError, exc.InterfaceError, exc.TimeoutError):
        app.register_error_handler(error, unavailable)
    return outage

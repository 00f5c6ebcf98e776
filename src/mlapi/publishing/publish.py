"""Publish a model trained elsewhere: an upload becomes a version with a card the server measured.

    upload -> a private temporary folder (never artifacts/) -> the checks, in a child process
           -> artifacts/<name>/vN/ (model.skops as uploaded, then card.json) -> the card

The API (``POST /api/v1/models/<name>/versions``), the /models page and ``flask --app mlapi models
import`` all call :func:`publish`. The upload is never unpickled and never read in this process
before the child (:mod:`mlapi.publishing.sandbox`) has checked it within its limits; a refusal
leaves nothing behind.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import mlapi
from mlapi.errors import MlapiError
from mlapi.serving.registry import Registry, sha256_of
from mlapi.serving.training import json_schema
from mlapi.words import N_

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
SLOT_WAIT_SECONDS = 3.0  # how long an upload waits for a free checking slot before a 503 (it holds a thread)
RETRY_AFTER_SECONDS = 10
SERVED_WITH = ("scikit-learn", "numpy", "scipy", "skops")
MAX_NOTE = 500  # characters of a publisher's note


class PublishRefused(MlapiError):
    """The upload cannot become a version; ``detail`` says what to fix (422)."""

    status = 422

    def __init__(self, detail: str, problem: str) -> None:
        super().__init__(detail, {"model": [detail]})
        self.problem = problem

    @property
    def code(self) -> str:
        """The check that refused it: ``not_skops``, ``type_not_allowed``, ``contract``, ``too_slow``..."""
        return self.problem


class UploadTooLarge(PublishRefused):
    status = 413


class PublishBusy(MlapiError):
    """Every checking slot is taken: try again in a few seconds (503)."""

    status = 503
    retry_after = RETRY_AFTER_SECONDS


def publishable(registry: Registry, name: str) -> None:
    """:raises PublishRefused: ``name`` takes no published models (the message names those that do)."""
    if registry.use_cases[name].publishing is None:
        taking = [other for other, use_case in registry.use_cases.items() if use_case.publishing]
        raise PublishRefused(N_("{name} does not take published models; {taking} do "
                                "(docs/publishing.md says why and what each accepts).").format(
                                    name=name, taking=", ".join(taking)), "not_supported")


def check_quota(registry: Registry, config: dict, publisher: str | None, role: str) -> None:
    """:raises PublishRefused: a client key already has its cap of published versions on disk."""
    cap = int(config["PUBLISH_VERSIONS_PER_KEY"])
    if role == "admin" or publisher is None:
        return
    mine = registry.published_by(publisher)
    if len(mine) >= cap:
        if mine:
            message = N_("The key '{publisher}' may have at most {cap} published version(s) on disk and has "
                         "{count}: delete one first ({listed}).")
        else:  # a cap of 0
            message = N_("The key '{publisher}' may have at most {cap} published version(s) on disk and has "
                         "{count}: delete one first.")
        raise PublishRefused(message.format(publisher=publisher, cap=cap, count=len(mine), listed=", ".join(mine)),
                             "quota")


def publish(registry: Registry, config: dict, name: str, upload: IO[bytes], note: str = "",
            publisher: str | None = None, role: str = "admin", via: str = "api") -> dict[str, Any]:
    """Check and measure ``upload`` (a skops file) for use case ``name`` and save it as its next version.

    :raises PublishRefused: the use case takes no published models, the key's cap is reached, or the
        file fails a check (422; ``UploadTooLarge``: 413).
    :raises PublishBusy: too many uploads are being checked on this machine, or one of this key's already (503).
    """
    publishable(registry, name)
    with one_at_a_time(publisher), tempfile.TemporaryDirectory(prefix="mlapi-publish-") as folder:
        check_quota(registry, config, publisher, role)
        path = Path(folder) / "model.skops"
        size = receive(upload, path, int(config["PUBLISH_MAX_BYTES"]))
        with checking_slot(int(config["PUBLISH_CONCURRENCY"])):
            report = run_checks(config, name, path)
        use_case = registry.use_cases[name]
        card = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "sha256": sha256_of(path),
            "metrics": report["metrics"],
            "dataset": report["dataset"],
            "params": {"model": report["description"], **threshold_of(report["serving"])},
            "label_shares": report["label_shares"],
            "input_schema": json_schema(use_case.request_schema),
            "example": use_case.example,
            "source": "published",
            "publisher": publisher,
            "published_via": via,
            "note": note,
            "size_bytes": size,
            "latency_ms": report["latency_ms"],
            "explanation_method": report["explanation_method"],
            "libraries": {"made_with": report["made_with"], "served_with": served_with()},
            "serving": report["serving"],
        }
        return registry.save_published(name, path, card)


def receive(upload: IO[bytes], path: Path, cap: int) -> int:
    """Copy ``upload`` to ``path``; its size.

    :raises UploadTooLarge: it is larger than ``cap`` bytes.
    :raises PublishRefused: it is empty.
    """
    size = 0
    with path.open("wb") as out:
        while chunk := upload.read(CHUNK):
            size += len(chunk)
            if size > cap:
                raise UploadTooLarge(N_("The file is larger than the {cap:,} bytes a published model may be.")
                                     .format(cap=cap), "too_large")
            out.write(chunk)
    if size == 0:
        raise PublishRefused(N_("The file is empty; attach the skops file in the field 'model'."), "empty")
    return size


def locks_folder() -> Path:
    """Where the machine-wide locks of publishing live (every worker and process of the machine sees them)."""
    folder = Path(tempfile.gettempdir()) / "mlapi-publish-slots"
    folder.mkdir(exist_ok=True)
    return folder


def locked(path: Path) -> IO | None:
    """``path`` opened and locked for this process (closing it releases the lock), or None if another holds it."""
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextmanager
def one_at_a_time(publisher: str | None) -> Iterator[None]:
    """Hold ``publisher``'s own lock while its upload is received, checked and saved: one upload at a time per
    key, so its cap holds and one key cannot hold every thread (the command line, None, is not limited).

    :raises PublishBusy: an upload of this key is being checked already.
    """
    if publisher is None:
        yield
        return
    digest = hashlib.sha256(publisher.encode()).hexdigest()[:16]
    handle = locked(locks_folder() / f"key-{digest}")
    if handle is None:
        raise PublishBusy(N_("An upload of the key '{publisher}' is being checked already; send the next one when "
                             "its answer has come.").format(publisher=publisher))
    try:
        yield
    finally:
        handle.close()  # closing releases the lock


@contextmanager
def checking_slot(slots: int) -> Iterator[None]:
    """Hold one of ``slots`` machine-wide slots (file locks) while an upload is checked.

    :raises PublishBusy: none came free within SLOT_WAIT_SECONDS.
    """
    folder = locks_folder()
    give_up = time.monotonic() + SLOT_WAIT_SECONDS
    while True:
        for index in range(max(slots, 1)):
            handle = locked(folder / f"slot-{index}")
            if handle is None:
                continue
            try:
                yield
            finally:
                handle.close()  # closing releases the lock
            return
        if time.monotonic() > give_up:
            raise PublishBusy(N_("{slots} uploads are being checked right now; try again in a few seconds.")
                              .format(slots=slots))
        time.sleep(0.2)


def run_checks(config: dict, name: str, path: Path) -> dict[str, Any]:
    """Run the sandbox on ``path`` within the configured limits; its report.

    :raises PublishRefused: a check failed, or the child ran out of time or memory.
    """
    timeout, memory = float(config["PUBLISH_TIMEOUT_SECONDS"]), int(config["PUBLISH_MEMORY_MB"])
    data_dir = Path(config["DATA_DIR"]) / name
    command = [sys.executable, "-m", "mlapi.publishing.sandbox", name, str(path), str(data_dir), str(memory),
               str(int(timeout)), str(config["PUBLISH_MAX_LATENCY_MS"])]
    environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(mlapi.__file__).parents[1]),
                   "HOME": str(path.parent), "PYTHONDONTWRITEBYTECODE": "1",
                   "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    errors = path.parent / "stderr.txt"
    with errors.open("wb") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                 cwd=path.parent, env=environment, start_new_session=True)
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out = None
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.communicate()
    if out is None:
        raise PublishRefused(N_("Checking the model took longer than {timeout:.0f} s, the limit: it is too slow to "
                                "measure on the test split. Make it smaller or faster.").format(timeout=timeout),
                             "too_slow")
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    if child.returncode != 0 or not isinstance(report, dict):
        said = errors.read_bytes()[-4000:]  # the file is at most 1 MiB (the child's RLIMIT_FSIZE)
        log.warning("publish check of %s ended with %s: %s", name, child.returncode,
                    said[-2000:].decode(errors="replace"))
        if child.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise PublishRefused(N_("Checking the model used more than its {timeout:.0f} s of CPU time: it is too "
                                    "slow. Make it smaller or faster.").format(timeout=timeout), "too_slow")
        if b"MemoryError" in said or child.returncode < 0:
            raise PublishRefused(N_("Checking the model stopped (exit status {status}); it needs more than "
                                    "the {memory} MiB of memory allowed.").format(status=child.returncode,
                                                                                  memory=memory),
                                 "too_much_memory")
        raise PublishRefused(N_("Checking the model stopped unexpectedly (exit status {status}); the "
                                "server's log has the reason.").format(status=child.returncode), "crashed")
    if not report["ok"]:  # the child's detail: English formatted from an N_ template (mlapi.publishing.sandbox)
        raise PublishRefused(report["detail"], report["problem"])
    return report


def threshold_of(serving: dict[str, Any]) -> dict[str, Any]:
    """The threshold the server chose, for the card's params (fraud)."""
    return {"threshold": serving["threshold"]} if "threshold" in serving else {}


def served_with() -> dict[str, str]:
    """The versions of the libraries that serve published models here."""
    return {name: metadata.version(name) for name in SERVED_WITH}

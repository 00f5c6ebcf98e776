"""The child process that reads, checks and measures an upload: ``python -m mlapi.publishing.sandbox``.

    python -m mlapi.publishing.sandbox NAME FILE DATA_DIR MEMORY_MB CPU_SECONDS MAX_LATENCY_MS

Limits come first, before anything of the file is read: address space (MEMORY_MB), CPU time,
files of at most 1 MiB (stderr), no core dump, one thread per math library (set by the parent).
Then, each step stopping at the first problem:

1. the file is a zip archive (skops) whose members are sound and unpack to at most MAX_UNPACKED_BYTES;
2. every type it names is on the server's allow-list (``PUBLISHED_TYPES``): nothing is built before;
3. it loads, keeps the use case's contract and predicts the card's example (``Publishing.check``);
4. the server measures it on the use case's held-out split (``Publishing.evaluate``);
5. it answers the example through the serving path, in the answer's documented shape, fast enough.

It writes one JSON object to stdout: ``{"ok": true, ...}`` with what the card needs, or
``{"ok": false, "problem": ..., "detail": ...}``. What the model itself prints goes to stderr.
"""
from __future__ import annotations

import importlib
import json
import os
import re
import resource
import signal
import statistics
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from mlapi.words import N_  # a marker alone (mlapi imports nothing else): the parent translates the detail

MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # what the archive's members add up to, unpacked
MAX_MEMBERS = 100_000
WARM_UP, TIMED = 3, 21  # predictions of the example: not timed, then timed (p50, p95)
MAX_DETAIL = 1000  # characters of a refusal's detail, which may quote the model's own error or classes
VERSION_TEXT = re.compile(r"[\w.+-]{1,40}")  # a library version as the file writes it, else it is not shown
PICKLE_STARTS = (b"\x80",)  # protocol 2 and later; joblib's files start the same way
ZIP_START = b"PK\x03\x04"  # a zip archive's first member; its directory is at the end, lost when cut short


class Refused(Exception):
    """The upload cannot be published; ``problem`` names the step, ``detail`` says what to fix."""

    def __init__(self, problem: str, detail: str) -> None:
        detail = detail if len(detail) <= MAX_DETAIL else detail[:MAX_DETAIL] + "…"  # a model's own error can be long
        super().__init__(detail)
        self.problem, self.detail = problem, detail


def limit(memory_mb: int, cpu_seconds: int) -> None:
    """This process's ceilings: memory, CPU time, file size (a write past it fails), no core dumps."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def open_archive(path: Path) -> dict[str, Any]:
    """Check the archive without building anything; return its skops and scikit-learn versions.

    :raises Refused: not a zip (a pickle is named), damaged or truncated, or too large unpacked.
    """
    with path.open("rb") as handle:
        start = handle.read(4)
    if not zipfile.is_zipfile(path):
        if start.startswith(PICKLE_STARTS):
            raise Refused("not_skops", N_("The file is a pickle, which mlapi never loads: it can run any code. Save "
                                          "the model with skops instead: skops.io.dump(model, 'model.skops')."))
        if start == ZIP_START:
            raise Refused("damaged", N_("The file is damaged or truncated: it starts as a zip archive (a skops "
                                        "file) but its end, the archive's directory, is missing. Upload it again."))
        raise Refused("not_skops", N_("The file is not a skops file (a zip archive); save the model with "
                                      "skops.io.dump(model, 'model.skops')."))
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            unpacked = sum(member.file_size for member in members)
            if len(members) > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
                raise Refused("too_large", N_("The archive unpacks to {unpacked:,} bytes in {members:,} files; "
                                              "the limit is {max_bytes:,} bytes in {max_members:,} files.").format(
                                                  unpacked=unpacked, members=len(members),
                                                  max_bytes=MAX_UNPACKED_BYTES, max_members=MAX_MEMBERS))
            if "schema.json" not in archive.namelist():
                raise Refused("not_skops", N_("The zip archive has no schema.json: it is not a skops file; save "
                                              "the model with skops.io.dump(model, 'model.skops')."))
            damaged = archive.testzip()  # reads every member, checking its CRC
            if damaged is not None:
                raise Refused("damaged", N_("The file is damaged: {member} fails its checksum. Upload it again.")
                              .format(member=damaged))
            schema = json.loads(archive.read("schema.json"))
            if not isinstance(schema, dict):
                raise Refused("not_skops", N_("The archive's schema.json is not a skops schema; save the model "
                                              "with skops.io.dump(model, 'model.skops')."))
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RecursionError) as error:
        raise Refused("damaged", N_("The file is damaged or truncated ({error}); upload it again.")
                      .format(error=error)) from None
    return {"skops": version_text(schema.get("_skops_version")), "skops_protocol": version_text(schema.get("protocol")),
            "scikit-learn": version_text(first_value(schema, "_sklearn_version"))}


def version_text(value: Any) -> str | int | None:
    """A version the file states, if it looks like one (it goes into the card as it is), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return value if isinstance(value, str) and VERSION_TEXT.fullmatch(value) else None


def first_value(node: Any, key: str) -> str | None:
    """The first string stored under ``key`` anywhere in a skops schema."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            found = current.get(key)
            if isinstance(found, dict) and isinstance(found.get("content"), str):
                return found["content"].strip('"')
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return None


def read_model(path: Path) -> Any:
    """The estimator, built only if every type it names is allowed.

    :raises Refused: a type outside the allow-list (named), or a file skops cannot read.
    """
    from mlapi.serving.model_files import PUBLISHED_TYPES, TypeNotAllowed, load_model

    try:
        return load_model(path, PUBLISHED_TYPES)
    except TypeNotAllowed as error:
        raise Refused("type_not_allowed", N_("The file names types mlapi does not load: {types}. A published "
                                             "model may hold scikit-learn estimators and transformers, NumPy and "
                                             "SciPy arrays and Python's plain values.").format(
                                                 types=", ".join(error.types))) from None
    except MemoryError:
        raise
    except Exception as error:
        raise Refused("unreadable", N_("skops cannot read the file: {error_type}: {error}").format(
            error_type=type(error).__name__, error=error)) from None


def inspect(name: str, path: Path, data_dir: Path, max_latency_ms: float) -> dict[str, Any]:
    """Every step of the module's docstring; what the card needs."""
    made_with = open_archive(path)
    estimator = read_model(path)
    from mlapi.usecase import ContractBroken

    use_case = importlib.import_module(f"mlapi.{name}").use_case  # this use case alone, not the catalogue
    publishing = use_case.publishing
    items = use_case.request_schema().load(use_case.example)["items"]
    try:
        publishing.check(estimator, items)
    except ContractBroken as broken:  # its message is English formatted from an N_ template
        raise Refused("contract", str(broken)) from None
    except Exception as error:
        raise Refused("example_failed", N_("The model failed on the card's example: {error_type}: {error}").format(
            error_type=type(error).__name__, error=error)) from None
    try:
        evaluation = publishing.evaluate(estimator, data_dir)
    except ContractBroken as broken:
        raise Refused("contract", str(broken)) from None
    except Exception as error:
        raise Refused("evaluation_failed", N_("The model failed on the held-out test split: {error_type}: {error}")
                      .format(error_type=type(error).__name__, error=error)) from None
    served = publishing.serve(estimator, evaluation.serving)
    timings = []
    try:
        for run in range(WARM_UP + TIMED):
            started = time.perf_counter()
            results = use_case.predict(served, items)
            if run >= WARM_UP:
                timings.append((time.perf_counter() - started) * 1000)
    except Exception as error:
        raise Refused("example_failed", N_("The model failed on the card's example: {error_type}: {error}").format(
            error_type=type(error).__name__, error=error)) from None
    wrong = use_case.response_schema().validate(results[0])
    if wrong:
        raise Refused("contract", N_("The model's answer does not have the use case's shape: {wrong}")
                      .format(wrong=wrong))
    latency = {"p50": round(statistics.median(timings), 3), "p95": round(statistics.quantiles(timings, n=20)[-1], 3)}
    if latency["p50"] > max_latency_ms:
        raise Refused("too_slow", N_("The model takes {p50:g} ms to answer one {name} request (median of "
                                     "{timed}); the limit is {limit:g} ms.").format(
                                         p50=latency["p50"], name=name, timed=TIMED, limit=max_latency_ms))
    return {"ok": True, "metrics": evaluation.metrics, "label_shares": evaluation.label_shares,
            "description": evaluation.description, "dataset": evaluation.dataset,
            "explanation_method": evaluation.explanation_method, "serving": evaluation.serving,
            "latency_ms": latency, "made_with": made_with}


def plain(value: Any) -> Any:
    """NumPy's numbers and arrays as JSON's."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (np.ndarray, np.bool_)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def main(argv: list[str]) -> int:
    name, file, data_dir, memory_mb, cpu_seconds, max_latency_ms = argv[1:7]
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the model or a library prints goes to stderr, not into the report
    limit(int(memory_mb), int(cpu_seconds))
    try:
        result = inspect(name, Path(file), Path(data_dir), float(max_latency_ms))
    except Refused as refused:
        result = {"ok": False, "problem": refused.problem, "detail": refused.detail}
    except MemoryError:
        result = {"ok": False, "problem": "too_much_memory",
                  "detail": N_("Checking the model needed more than the {memory} MiB of memory allowed.")
                  .format(memory=memory_mb)}
    json.dump(result, report, default=plain)
    report.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

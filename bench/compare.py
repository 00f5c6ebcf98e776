"""mlapi side by side with the floor of the HTTP stack and a naive server of the same model.

Starts three gunicorn servers on 127.0.0.1 (2 workers each, ``--preload``):
- floor: Flask answering a constant JSON (``floor_server.py``);
- naive: Flask, ``joblib.load`` of mlapi's own sentiment pipeline (dumped for it), ``predict_proba``
  per request, no validation, auth or limits (``naive_server.py``);
- mlapi with everything on: a client key, limits on (high, never reached), request log at INFO,
  metrics and the prediction log; and beside it, for their cost, the same without metrics and
  prediction log (``MLAPI_MONITORING_ENABLED=false``), at concurrency 1.
floor and naive start in ``bench/``, which has no gunicorn.conf.py: gunicorn's default sync workers,
which close each connection after one answer. mlapi starts in the project folder, so it runs as
``make run`` does, with gunicorn.conf.py's worker: ``mlapi.server.gunicorn_worker.ThreadWorker`` (gthread,
its threads per worker, kept-alive connections, the read deadline).
Load comes from wrk (``post.lua``), in bounded rounds that alternate the servers, so
noise from other work on the machine hits them alike. Prints one table. ``make bench``.
"""
from __future__ import annotations

import csv
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import joblib

from mlapi import catalog
from mlapi.serving.model_files import load_model

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORKERS = 2
ROUNDS = 3  # concurrency rounds per server, interleaved; medians reported
MONITORING_ROUNDS = 5  # sentiment at concurrency 1 with and without metrics and the log, interleaved
SECONDS = 5  # each wrk run at concurrency 8
LATENCY_SECONDS = 3  # each wrk run at concurrency 1, per use case
CONCURRENCY = 8
BATCH = 1000
SINGLE = {"text": "The flight was delayed two hours and nobody told us anything."}
HIGH = "100000000/minute"  # limits on, but never reached
USE_CASES = ("sentiment", "recommend", "xray", "demand", "fraud")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, method: str, path: str, body: object = None, headers: dict | None = None) -> tuple[int, bytes]:
    """One request on a new connection: status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, json.dumps(body) if body is not None else None,
                       {"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


@contextmanager
def gunicorn(app: str, env: dict[str, str], ready_path: str, cwd: Path = ROOT):
    """A gunicorn serving ``app`` on a free port; yields (port, pid, seconds from start to the first 200)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", str(WORKERS), "--no-control-socket",
               "--bind", f"127.0.0.1:{port}", app]
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port, server.pid, wait_ready(server, port, ready_path, started)
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_ready(server: subprocess.Popen, port: int, path: str, started: float) -> float:
    """Seconds from ``started`` to the first 200 from ``path``."""
    while time.perf_counter() - started < 120:
        if server.poll() is not None:
            sys.exit(f"gunicorn on port {port} exited before it was ready")
        try:
            if call(port, "GET", path)[0] == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.02)
    sys.exit(f"gunicorn on port {port} was not ready in time")


def wrk(port: int, path: str, body_file: Path | None, auth: str, connections: int, seconds: int) -> dict:
    """One bounded wrk run: requests/s, p50 and p99 ms; exits if any answer was not a 2xx."""
    env = {**os.environ, "BENCH_AUTH": auth}
    if body_file:
        env["BENCH_BODY"] = str(body_file)
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(BENCH / "post.lua"), f"http://127.0.0.1:{port}{path}"]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    if figures["bad_status"]:
        sys.exit(f"{figures['bad_status']} answers from port {port}{path} were not 2xx")
    figures["rate"] = figures["requests"] / figures["seconds"]
    return figures


def memory_mb(pid: int) -> tuple[float, float]:
    """RSS and PSS (shared pages split between the processes sharing them) of ``pid``, in MB."""
    figures = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Rss", "Pss"):
            figures[name] = int(value.split()[0]) / 1024
    return figures["Rss"], figures["Pss"]


def workers_memory(master: int) -> list[tuple[float, float]]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [memory_mb(int(child)) for child in children]


def newest(name: str) -> Path:
    """The newest trained version's folder of ``name``."""
    folders = [p for p in (ROOT / "artifacts" / name).iterdir() if (p / "card.json").is_file()]
    return max(folders, key=lambda p: int(p.name[1:]))


def tweets(n: int) -> list[str]:
    """``n`` real airline tweets (varied texts, as a client would send)."""
    with (ROOT / "data" / "sentiment" / "airline_tweets.csv").open(newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row["text"].strip()]
    return texts[:: len(texts) // n][:n]


def in_process_ms(name: str, example: dict) -> float:
    """Median milliseconds of the use case's own predict (validated items, loaded model), in this process."""
    from mlapi.catalog import USE_CASES as ALL

    use_case = next(u for u in ALL if u.name == name)
    model = trained_model(name)
    items = use_case.request_schema().load(example)["items"]
    times = []
    for _ in range(60):
        started = time.perf_counter()
        use_case.predict(model, items)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[10:])


def ceiling_texts_per_second(texts: list[str]) -> float:
    """The same sentiment pipeline's predict_proba on the batch, in this process: best of 3."""
    pipeline = trained_model("sentiment").pipeline
    best = min(timed(lambda: pipeline.predict_proba(texts)) for _ in range(3))
    return len(texts) / best


def trained_model(name: str):
    """The newest trained version of ``name``, read as mlapi reads it."""
    use_case = next(use_case for use_case in catalog.USE_CASES if use_case.name == name)
    return load_model(newest(name) / "model.skops", use_case.model_types)


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def new_key(env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "flask", "--app", "mlapi", "keys", "create", "bench", "--limit", HIGH]
    created = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return created.stdout.strip().splitlines()[-1]


def median_of(runs: list[dict]) -> dict:
    return {field: statistics.median(run[field] for run in runs) for field in ("rate", "p50_ms", "p99_ms")}


def everything_on(scratch: Path) -> dict[str, str]:
    """mlapi's settings for the bench: the database and limit counters in ``scratch``, limits too high to reach."""
    return {"MLAPI_DATABASE_URL": f"sqlite:///{scratch}/bench.db",
            "MLAPI_RATELIMIT_STORAGE": f"mlapi+lmdb:///{scratch}/ratelimits",
            "MLAPI_RATELIMIT_ANONYMOUS": HIGH, "MLAPI_RATELIMIT_CLIENT": HIGH, "MLAPI_RATELIMIT_ANONYMOUS_ITEMS": HIGH,
            "MLAPI_RATELIMIT_CLIENT_ITEMS": HIGH, "MLAPI_LOG_LEVEL": "INFO"}


def measure(scratch: Path) -> dict:
    """Every figure of the table, from the three servers running side by side."""
    body = {}
    examples = {}
    mlapi_env = everything_on(scratch)
    auth = f"Bearer {new_key(mlapi_env)}"
    single = scratch / "single.json"
    single.write_text(json.dumps(SINGLE))
    joblib.dump(trained_model("sentiment").pipeline, scratch / "naive.joblib")  # the naive way: a pickle
    naive_env = {"NAIVE_MODEL": str(scratch / "naive.joblib")}
    with (gunicorn("floor_server:app", {}, "/", BENCH) as (floor_port, _, floor_ready),
          gunicorn("naive_server:app", naive_env, "/", BENCH) as (naive_port, _, naive_ready),
          gunicorn("wsgi:app", mlapi_env, "/api/v1/health") as (port, master, ready),
          gunicorn("wsgi:app", {**mlapi_env, "MLAPI_MONITORING_ENABLED": "false"}, "/api/v1/health")
          as (unmonitored_port, _, _)):
        for name in USE_CASES:
            card = json.loads(call(port, "GET", f"/api/v1/models/{name}")[1])
            examples[name] = card["example"]
            body[name] = scratch / f"{name}.json"
            body[name].write_text(json.dumps(card["example"]))
        targets = {"floor": (floor_port, "/", single, ""), "naive": (naive_port, "/", single, ""),
                   "mlapi": (port, "/api/v1/sentiment", single, auth)}
        for target in targets.values():  # warm-up
            wrk(*target, CONCURRENCY, 1)
        rounds: dict[str, list[dict]] = {name: [] for name in targets}
        for _ in range(ROUNDS):
            for name, target in targets.items():
                rounds[name].append(wrk(*target, CONCURRENCY, SECONDS))
        sequential = {"floor": [wrk(floor_port, "/", single, "", 1, LATENCY_SECONDS)]}
        model_ms = {}
        for name in USE_CASES:  # the model timed just before its requests: a drifting machine affects both alike
            model_ms[name] = in_process_ms(name, examples[name])
            sequential[name] = [wrk(port, f"/api/v1/{name}", body[name], auth, 1, LATENCY_SECONDS)]
        sequential["floor"].append(wrk(floor_port, "/", single, "", 1, LATENCY_SECONDS))
        monitoring = {"on": [], "off": []}
        for _ in range(MONITORING_ROUNDS):  # interleaved, so noise hits both alike
            monitoring["on"].append(wrk(port, "/api/v1/sentiment", single, auth, 1, LATENCY_SECONDS))
            monitoring["off"].append(wrk(unmonitored_port, "/api/v1/sentiment", single, auth, 1, LATENCY_SECONDS))
        texts = tweets(BATCH)
        batch_seconds = min(timed(lambda: check_batch(port, texts, auth)) for _ in range(3))
        ceiling = ceiling_texts_per_second(texts)  # right after, as the models' own times are
        memory = workers_memory(master)
    return {
        "concurrent": {name: median_of(runs) for name, runs in rounds.items()},
        "sequential": {name: median_of(runs) for name, runs in sequential.items()},
        "monitoring": {state: median_of(runs) for state, runs in monitoring.items()},
        "in_process_ms": model_ms,
        "batch": BATCH / batch_seconds,
        "ceiling": ceiling,
        "memory": memory,
        "ready": {"floor": floor_ready, "naive": naive_ready, "mlapi": ready},
    }


def check_batch(port: int, texts: list[str], auth: str) -> None:
    status, data = call(port, "POST", "/api/v1/sentiment", {"texts": texts}, {"Authorization": auth})
    if status != 200 or len(json.loads(data)["results"]) != len(texts):
        sys.exit(f"the batch failed: {status}")


def verdict(met: bool) -> str:
    return "ok" if met else "MISSED"


def report(figures: dict) -> None:
    """The one table, each of issue 11's targets marked ok or MISSED."""
    concurrent, sequential = figures["concurrent"], figures["sequential"]
    floor, naive = concurrent["floor"], concurrent["naive"]
    print(f"gunicorn --preload, {WORKERS} workers each (floor, naive: sync; mlapi: gunicorn.conf.py's gthread), "
          f"127.0.0.1; wrk on the same cores. "
          f"Concurrency {CONCURRENCY}: {ROUNDS} interleaved rounds of {SECONDS} s, medians. "
          f"Concurrency 1: {LATENCY_SECONDS} s per use case.")
    print(f"{'server, use case':<26}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'/ floor':>9}{'/ naive':>9}{'model ms':>10}{'p50 target':>16}")
    for name, label in (("floor", "floor (constant JSON)"), ("naive", "naive sentiment"),
                        ("mlapi", "mlapi sentiment")):
        row = concurrent[name]
        print(f"{label:<26}{CONCURRENCY:>5}{row['rate']:>9.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['rate'] / floor['rate']:>9.2f}{row['rate'] / naive['rate']:>9.2f}")
    floor_p50 = sequential["floor"]["p50_ms"]
    print(f"{'floor (constant JSON)':<26}{1:>5}{sequential['floor']['rate']:>9.0f}{floor_p50:>9.2f}"
          f"{sequential['floor']['p99_ms']:>9.2f}")
    for name in USE_CASES:
        row, model_ms = sequential[name], figures["in_process_ms"][name]
        target = 2 * (floor_p50 + model_ms)
        judged = f"<= {target:.2f} {verdict(row['p50_ms'] <= target)}" if name != "sentiment" else "(c8 targets)"
        print(f"{'mlapi ' + name:<26}{1:>5}{row['rate']:>9.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['rate'] / sequential['floor']['rate']:>9.2f}{'':>9}{model_ms:>10.2f}{judged:>16}")
    to_floor, to_naive = concurrent["mlapi"]["rate"] / floor["rate"], concurrent["mlapi"]["rate"] / naive["rate"]
    print(f"one sentiment prediction at concurrency {CONCURRENCY}: {to_naive:.2f}x naive (target 2x: "
          f"{verdict(to_naive >= 2)}), {to_floor:.2f}x the floor (target 0.5x: {verdict(to_floor >= 0.5)})")
    on, off = figures["monitoring"]["on"]["p50_ms"], figures["monitoring"]["off"]["p50_ms"]
    print(f"sentiment p50 at concurrency 1, {MONITORING_ROUNDS} interleaved rounds: {on:.2f} ms with metrics and the "
          f"prediction log, {off:.2f} ms without ({(on / off - 1) * 100:+.1f}%)")
    batch, ceiling = figures["batch"], figures["ceiling"]
    print(f"batch of {BATCH} tweets: mlapi {batch:,.0f} texts/s; the same pipeline's predict_proba in process "
          f"{ceiling:,.0f} texts/s ({batch / ceiling:.2f}x; target 0.8x: {verdict(batch / ceiling >= 0.8)})")
    for number, (rss, pss) in enumerate(figures["memory"], 1):
        print(f"mlapi worker {number}: RSS {rss:.0f} MB, PSS {pss:.0f} MB (all five models loaded; "
              f"target 300 MB: {verdict(rss <= 300)})")
    ready = figures["ready"]
    print(f"cold start to the first 200 from /api/v1/health: mlapi {ready['mlapi']:.2f} s "
          f"(floor {ready['floor']:.2f} s, naive {ready['naive']:.2f} s; target 5 s: {verdict(ready['mlapi'] <= 5)})")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report(measure(Path(scratch)))


if __name__ == "__main__":
    main()

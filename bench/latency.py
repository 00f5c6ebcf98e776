"""Latency of mlapi under gunicorn on loopback, with and without auth and rate limits.

Starts ``gunicorn --preload`` (2 workers) with the project's trained artifacts on a
free 127.0.0.1 port, once per scenario, with a temporary database and limit store
(your keys and counters are never touched). Each use case is measured on its model
card's example; the loops are bounded. Prints one table. Run with ``make bench``
(which trains what is missing first).
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = 300
WARMUP = 30
CONCURRENCY = 8
BATCH = 1000
SINGLE = {"text": "The flight was delayed two hours and nobody told us anything."}
HIGH = "1000000/minute"  # limits on, but never reached


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, method: str, path: str, body: dict | None = None,
         headers: dict | None = None) -> tuple[int, float, bytes]:
    """One request on a new connection: status, milliseconds, body."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, json.dumps(body) if body else None,
                       {"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, (time.perf_counter() - started) * 1000, data


def start(settings: dict[str, str]) -> tuple[subprocess.Popen, int, float]:
    """Start gunicorn with ``settings`` as MLAPI_* variables; return it, its port and its start time."""
    port = free_port()
    env = {**os.environ, **{f"MLAPI_{k}": v for k, v in settings.items()}, "MLAPI_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    command.append("wsgi:app")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    while time.perf_counter() - started < 120:
        if server.poll() is not None:
            sys.exit("gunicorn exited before it was ready")
        try:
            if call(port, "GET", "/api/v1/health")[0] == 200:
                return server, port, time.perf_counter() - started
        except OSError:
            time.sleep(0.1)
    sys.exit("gunicorn was not ready in time")


def memory_mb(pid: int) -> tuple[float, float]:
    """RSS and PSS (shared pages split between the processes sharing them) of ``pid``, in MB."""
    figures = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Rss", "Pss"):
            figures[name] = int(value.split()[0]) / 1024
    return figures["Rss"], figures["Pss"]


def workers_memory(master: int) -> list[tuple[float, float]]:
    """RSS and PSS of each gunicorn worker (the master's children)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [memory_mb(int(child)) for child in children]


def latencies(port: int, path: str, body: dict, headers: dict) -> list[float]:
    """Milliseconds of REQUESTS sequential requests, after a warm-up."""
    for _ in range(WARMUP):
        call(port, "POST", path, body, headers)
    timed = [call(port, "POST", path, body, headers) for _ in range(REQUESTS)]
    assert all(status == 200 for status, _, _ in timed), f"a request to {path} failed"
    return [ms for _, ms, _ in timed]


def new_key(settings: dict[str, str]) -> str:
    """A client key in the scenario's temporary database."""
    env = {**os.environ, **{f"MLAPI_{k}": v for k, v in settings.items()}}
    created = subprocess.run([sys.executable, "-m", "flask", "--app", "mlapi", "keys", "create", "bench"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return created.stdout.strip()


def scenario(settings: dict[str, str], headers: dict, everything: bool) -> dict:
    """p50 per use case, and with ``everything`` also the concurrency and batch figures."""
    server, port, ready = start(settings)
    try:
        figures: dict = {"ready": ready, "p50": {}}
        for entry in json.loads(call(port, "GET", "/api/v1/models")[2])["models"]:
            example = json.loads(call(port, "GET", f"/api/v1/models/{entry['name']}")[2])["example"]
            times = latencies(port, f"/api/v1/{entry['name']}", example, headers)
            figures["p50"][entry["name"]] = (statistics.median(times), statistics.quantiles(times, n=100)[98])
        if everything:
            started = time.perf_counter()
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                statuses = list(pool.map(lambda _: call(port, "POST", "/api/v1/sentiment", SINGLE, headers)[0],
                                         range(REQUESTS)))
            figures["rate"] = REQUESTS / (time.perf_counter() - started)
            assert all(status == 200 for status in statuses), "a concurrent request failed"
            texts = {"texts": [f"{SINGLE['text']} ({i})" for i in range(BATCH)]}
            figures["batch_ms"] = min(call(port, "POST", "/api/v1/sentiment", texts, headers)[1] for _ in range(3))
            figures["memory"] = workers_memory(server.pid)
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = {"DATABASE_URL": f"sqlite:///{scratch}/bench.db",
                "RATELIMIT_STORAGE": f"mlapi+sqlite:///{scratch}/ratelimits.db",
                "RATELIMIT_ANONYMOUS": HIGH, "RATELIMIT_CLIENT": HIGH}
        key = new_key(base)
        runs = {
            "no limits, anonymous": scenario({**base, "RATELIMIT_ENABLED": "false"}, {}, everything=False),
            "limits, anonymous": scenario(base, {}, everything=False),
            "limits, client key": scenario(base, {"Authorization": f"Bearer {key}"}, everything=True),
        }
    names = list(runs["limits, client key"]["p50"])
    print(f"gunicorn --preload, 2 workers, 127.0.0.1; {REQUESTS} sequential requests per cell; p50 (p99) ms")
    print(f"{'scenario':<24}" + "".join(f"{name:>20}" for name in names))
    for label, figures in runs.items():
        cells = "".join(f"{f'{p50:.2f} ({p99:.1f})':>20}" for p50, p99 in (figures["p50"][n] for n in names))
        print(f"{label:<24}{cells}")
    full = runs["limits, client key"]
    print(f"ready after start: {full['ready']:.2f} s")
    print(f"sentiment, client key: {full['rate']:.0f} req/s at concurrency {CONCURRENCY}; "
          f"batch of {BATCH} in {full['batch_ms']:.0f} ms ({BATCH / full['batch_ms'] * 1000:.0f} texts/s)")
    for number, (rss, pss) in enumerate(full["memory"], 1):
        print(f"worker {number}: RSS {rss:.0f} MB, PSS {pss:.0f} MB (models loaded once in the master and shared)")


if __name__ == "__main__":
    main()

"""Latency of mlapi under gunicorn on loopback: p50/p95/p99 per use case, req/s, batch texts/s.

Starts ``gunicorn --preload`` with the project's trained artifacts on a free
127.0.0.1 port, sends a bounded number of requests, prints one table, stops
the server. Each use case is measured on its model card's example. Run with
``make bench`` (which trains what is missing first).
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = 300
WARMUP = 30
CONCURRENCY = 8
BATCH = 1000
SINGLE = {"text": "The flight was delayed two hours and nobody told us anything."}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, path: str, body: dict) -> tuple[int, float]:
    """Send one JSON POST on a new connection; return status and milliseconds."""
    payload = json.dumps(body)
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", path, payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, (time.perf_counter() - started) * 1000


def wait_until_ready(port: int, server: subprocess.Popen, seconds: float = 60) -> float:
    """Poll /api/v1/health; return how long the server took to answer 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if server.poll() is not None:
            sys.exit("gunicorn exited before it was ready")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.1)
    sys.exit("gunicorn was not ready in time")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def get_json(port: int, path: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    return json.loads(connection.getresponse().read())


def latencies(port: int, path: str, body: dict) -> list[float]:
    """Milliseconds of REQUESTS sequential requests, after a warm-up."""
    for _ in range(WARMUP):
        post(port, path, body)
    timed = [post(port, path, body) for _ in range(REQUESTS)]
    assert all(status == 200 for status, _ in timed), f"a request to {path} failed"
    return [ms for _, ms in timed]


def main() -> None:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    command.append("wsgi:app")
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MLAPI_LOG_LEVEL": "WARNING"})
    rows = []
    try:
        ready = wait_until_ready(port, server)
        for entry in get_json(port, "/api/v1/models")["models"]:
            example = get_json(port, f"/api/v1/models/{entry['name']}")["example"]
            times = latencies(port, f"/api/v1/{entry['name']}", example)
            rows.append((entry["name"], statistics.median(times), percentile(times, 95), percentile(times, 99)))

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            statuses = list(pool.map(lambda _: post(port, "/api/v1/sentiment", SINGLE)[0], range(REQUESTS)))
        rate = REQUESTS / (time.perf_counter() - started)
        assert all(status == 200 for status in statuses), "a concurrent request failed"

        texts = [f"{SINGLE['text']} ({i})" for i in range(BATCH)]
        batch_ms = min(post(port, "/api/v1/sentiment", {"texts": texts})[1] for _ in range(3))
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"gunicorn --preload, 2 workers, 127.0.0.1; ready {ready:.2f} s after start")
    print(f"{'use case (card example)':<26}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, p50, p95, p99 in rows:
        print(f"{name:<26}{p50:>10.2f}{p95:>10.2f}{p99:>10.2f}")
    print(f"sentiment req/s at concurrency {CONCURRENCY}: {rate:.0f}")
    print(f"sentiment batch of {BATCH}: {batch_ms:.0f} ms (best of 3), {BATCH / batch_ms * 1000:.0f} texts/s")


if __name__ == "__main__":
    main()

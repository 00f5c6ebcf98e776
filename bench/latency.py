"""Latency of mlapi under gunicorn on loopback: p50/p95/p99 of one request, req/s, batch texts/s.

Starts ``gunicorn --preload`` with the project's trained artifacts on a free
127.0.0.1 port, sends a bounded number of requests, prints one table, stops
the server. Run with ``make bench`` (which trains what is missing first).
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
REQUESTS = 500
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


def main() -> None:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    command.append("wsgi:app")
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MLAPI_LOG_LEVEL": "WARNING"})
    try:
        ready = wait_until_ready(port, server)
        for _ in range(50):
            post(port, "/api/v1/sentiment", SINGLE)
        sequential = [post(port, "/api/v1/sentiment", SINGLE) for _ in range(REQUESTS)]
        assert all(status == 200 for status, _ in sequential), "a request failed"
        times = [ms for _, ms in sequential]

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

    print(f"{'sentiment, gunicorn 2 workers, 127.0.0.1':<44}")
    print(f"{'ready after start (s)':<32}{ready:>10.2f}")
    print(f"{'one text p50 (ms)':<32}{statistics.median(times):>10.2f}")
    print(f"{'one text p95 (ms)':<32}{percentile(times, 95):>10.2f}")
    print(f"{'one text p99 (ms)':<32}{percentile(times, 99):>10.2f}")
    print(f"{f'req/s at concurrency {CONCURRENCY}':<32}{rate:>10.0f}")
    print(f"{f'batch of {BATCH} (ms, best of 3)':<32}{batch_ms:>10.0f}")
    print(f"{'batch texts/s':<32}{BATCH / batch_ms * 1000:>10.0f}")


if __name__ == "__main__":
    main()

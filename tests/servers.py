"""Real gunicorn servers for tests that need several worker processes or instances."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def request(port: int, method: str, path: str, body: dict | None = None,
            headers: dict | None = None) -> tuple[int, dict, dict]:
    """One request on a new connection: status, headers, JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payload = json.dumps(body) if body is not None else None
    connection.request(method, path, payload, {"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.headers), json.loads(data) if data else {}


@contextlib.contextmanager
def gunicorn(settings: dict[str, str], workers: int = 2, log: Path | None = None) -> Iterator[int]:
    """Serve wsgi:app with ``settings`` as MLAPI_* variables; yield the port once it answers.

    Its output (mlapi's log lines, gunicorn's) goes to the file ``log`` when given.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAPI_")}
    env.update({f"MLAPI_{name}": str(value) for name, value in settings.items()})
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", str(workers),
               "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    stdout = log.open("w") if log else subprocess.DEVNULL
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout,
                              stderr=subprocess.STDOUT if log else subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not reachable("127.0.0.1", port):
            if server.poll() is not None or time.monotonic() > deadline:
                said = log.read_text() if log else server.stderr.read().decode()
                raise RuntimeError(f"gunicorn did not start: {said[-2000:]}")
            time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        if log:
            stdout.close()

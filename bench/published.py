"""Publishing, measured: upload to 201 per use case, and a published sentiment model's p50 beside the trained one's.

Starts mlapi as ``make bench`` does (gunicorn, 2 workers, everything on) on a copy of this checkout's
artifacts/, trains each example's model (``examples/publish_<name>.py``), publishes it ``rounds`` times per
use case over HTTP and prints the median time from upload to 201. Then it alternates wrk runs of one
sentiment prediction at concurrency 1 between the trained version and the published tf-idf pipeline, each
activated in turn, and prints the median p50 and p99 of each.

    .venv/bin/python bench/published.py [rounds]     # default 3
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import skops.io as sio
from compare import HIGH, ROOT, SINGLE, call, everything_on, gunicorn, wrk

USE_CASES = ("sentiment", "fraud", "xray")
LATENCY_SECONDS = 5


def example(name: str):
    """The example script of ``name`` as a module: its train() and publish()."""
    spec = importlib.util.spec_from_file_location(f"publish_{name}", ROOT / "examples" / f"publish_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def admin_key(env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "flask", "--app", "mlapi", "keys", "create", "bench-admin", "--role", "admin",
               "--limit", HIGH]
    created = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return created.stdout.strip().splitlines()[-1]


def serve(port: int, key: str, version: str) -> None:
    """Activate ``version`` of sentiment and wait until 10 answers in a row come from it."""
    status, _ = call(port, "PUT", "/api/v1/models/sentiment/active", {"version": version},
                     {"Authorization": f"Bearer {key}"})
    assert status == 200, status
    streak = 0
    while streak < 10:
        _, body = call(port, "POST", "/api/v1/sentiment", SINGLE)
        streak = streak + 1 if json.loads(body)["model"]["version"] == version else 0


def main(rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        shutil.copytree(ROOT / "artifacts", scratch / "artifacts")
        env = {**everything_on(scratch), "MLAPI_ARTIFACTS_DIR": str(scratch / "artifacts"),
               "MLAPI_PUBLISH_CONCURRENCY": "2"}
        key = admin_key({**os.environ, **env})
        published = {}
        with gunicorn("wsgi:app", env, "/api/v1/health") as (port, _, _):
            url = f"http://127.0.0.1:{port}"
            print("upload to 201, median of", rounds)
            for name in USE_CASES:
                module = example(name)
                model_file = scratch / f"{name}.skops"
                sio.dump(module.train(ROOT / "data" / name), model_file)
                times = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    card = module.publish(url, key, name, model_file, "bench")
                    times.append(time.perf_counter() - started)
                published[name] = card["version"]
                print(f"  {name:<10} {statistics.median(times):5.2f} s  (runs {', '.join(f'{t:.2f}' for t in times)};"
                      f" {model_file.stat().st_size:,} bytes; card p50 {card['latency_ms']['p50']} ms)")
            single = scratch / "single.json"
            single.write_text(json.dumps(SINGLE))
            auth = f"Bearer {key}"
            runs: dict[str, list[dict]] = {"v1": [], published["sentiment"]: []}
            for _ in range(rounds):
                for version in runs:
                    serve(port, key, version)
                    runs[version].append(wrk(port, "/api/v1/sentiment", single, auth, 1, LATENCY_SECONDS))
            print("sentiment at concurrency 1, median of", rounds, "rounds")
            for version, figures in runs.items():
                kind = "trained" if version == "v1" else "published tf-idf + logistic regression"
                print(f"  {version} ({kind}): p50 {statistics.median(r['p50_ms'] for r in figures):.2f} ms, "
                      f"p99 {statistics.median(r['p99_ms'] for r in figures):.2f} ms, "
                      f"{statistics.median(r['rate'] for r in figures):.0f} requests/s")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:2]))

"""What one uncached /monitor panel costs with a busy hour in the prediction log.

Trains tiny models, fills an SQLite (or ``--database``) log with ``--rows`` rows spread over the
last hour, then times ``GET /monitor/panel`` in process. Run it from another checkout's folder
(``PYTHONPATH=<checkout>/src``) to compare versions::

    .venv/bin/python bench/monitor_cost.py --rows 100000
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from mlapi import create_app, extensions
from mlapi.observability.prediction_log import Pending
from mlapi.serving.training import train_all

LABELS = ("negative", "neutral", "positive")


def fill(app, rows: int) -> None:
    """``rows`` sentiment and fraud predictions over the last hour, written as the workers write them:
    mostly answered, some 422s, a few batches."""
    now = time.time()
    chosen = random.Random(0)
    writer = extensions.prediction_log(app)
    for number in range(rows):
        status = 422 if number % 10 == 0 else 200
        items = 100 if number % 50 == 0 else 1
        labels = Counter({label: chosen.randint(0, items) for label in LABELS} if items > 1
                         else {chosen.choice(LABELS): 1})
        writer.add(Pending(now - chosen.uniform(0, 3599), f"r{number}", "sentiment" if number % 4 else "fraud",
                           "v1", None, "api", status, chosen.uniform(0.0005, 0.02), items,
                           labels if status == 200 else Counter(), 0.5))
        if number % 10_000 == 9_999:
            writer.flush()
    writer.flush()


def busy_app(folder: Path, database: str | None, rows: int):
    """An app on tiny models trained in ``folder``, its log (``database``, else SQLite there) holding ``rows`` rows."""
    train_all(folder / "artifacts", sample=0.05)
    app = create_app({"ARTIFACTS_DIR": str(folder / "artifacts"), "MONITOR_CACHE_SECONDS": 0,
                      "DATABASE_URL": database or f"sqlite:///{folder / 'mlapi.db'}", "ALERTS_EVERY_SECONDS": 0,
                      "RATELIMIT_STORAGE": f"mlapi+lmdb:///{folder / 'limits'}?map_mb=1",
                      "RATELIMIT_ENABLED": False, "SYNC_SECONDS": 0, "LOG_FLUSH_SECONDS": 0})
    fill(app, rows)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary folder)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        app = busy_app(Path(scratch), arguments.database, arguments.rows)
        client = app.test_client()
        seconds = []
        for _ in range(arguments.views):
            started = time.perf_counter()
            assert client.get("/monitor/panel").status_code == 200
            seconds.append(time.perf_counter() - started)
        print(f"{arguments.rows:,} rows in the hour: /monitor/panel took {statistics.median(seconds) * 1000:.0f} ms "
              f"(median of {arguments.views}, uncached)")


if __name__ == "__main__":
    main()

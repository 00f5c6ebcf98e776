"""What one alert round costs with a busy hour in the prediction log.

Trains tiny models, fills an SQLite (or ``--database``) log with ``--rows`` rows over the last hour
(bench/monitor_cost.py's busy_app), loads examples/alert_rules.json (13 rules, 29 rule-use case pairs), then times
``evaluate()`` as the process that won the round runs it::

    .venv/bin/python bench/alerts_cost.py --rows 100000
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from monitor_cost import busy_app

from mlapi import extensions
from mlapi.alerts.rules import make_rule
from mlapi.alerts.signals import known
from mlapi.observability.prediction_log import utc_now
from mlapi.storage.database import db

RULES = Path(__file__).resolve().parents[1] / "examples" / "alert_rules.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", help="a database URL (default: SQLite in a temporary folder)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        app = busy_app(Path(scratch), arguments.database, arguments.rows)
        with app.app_context():
            allowed = known()
            for rule in json.loads(RULES.read_text()):
                db.session.add(make_rule(rule["name"], rule["use_case"], rule["condition"], rule["window"],
                                         rule["min_count"], rule["cooldown"], known=allowed, now=utc_now()))
            db.session.commit()
            seconds = []
            for _ in range(arguments.rounds):
                started = time.perf_counter()
                extensions.alert_evaluator(app).evaluate()
                seconds.append(time.perf_counter() - started)
        print(f"{arguments.rows:,} rows in the hour: one alert round took {statistics.median(seconds) * 1000:.0f} ms "
              f"(median of {arguments.rounds})")


if __name__ == "__main__":
    main()

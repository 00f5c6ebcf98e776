"""This checkout against another, in paired rounds: the way each change to the hot path is judged.

Two runs of ``make bench`` differ by 10-20% on a machine whose speed drifts, more than most
changes are worth. So this starts the floor, mlapi from this checkout and mlapi from another
checkout of the project (a ``git worktree`` of the commit before the change, say) side by side
on 127.0.0.1, with everything on, each serving its own checkout's trained models (this
checkout's when the other has none: train the other's too when its model files differ); then it alternates
wrk runs of one sentiment prediction at concurrency 8 between them and prints, for each server,
the median of the per-round ratios to the other checkout and to the floor. Each mlapi runs
with its own checkout's gunicorn.conf.py (worker class, threads, keep-alive); the floor runs
gunicorn's default sync workers.

The other checkout must know the ``mlapi+lmdb`` limit storage (any commit from issue 11's third
round on).

    git worktree add /tmp/before HEAD~1
    .venv/bin/python bench/paired.py /tmp/before [rounds] [seconds]    # default: 8 rounds of 3 s
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from compare import BENCH, CONCURRENCY, ROOT, SINGLE, everything_on, gunicorn, new_key, wrk


def main(other: str, rounds: int = 8, seconds: int = 3) -> None:
    checkouts = {"this": ROOT, "other": Path(other).resolve()}
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as servers:
        single = Path(scratch) / "single.json"
        single.write_text(json.dumps(SINGLE))
        port, _, _ = servers.enter_context(gunicorn("floor_server:app", {}, "/", BENCH))
        targets = {"floor": (port, "/", single, "")}
        for name, checkout in checkouts.items():
            folder = Path(scratch) / name
            folder.mkdir()
            env = {**everything_on(folder), "PYTHONPATH": str(checkout / "src"),  # its code, and its models
                   "MLAPI_ARTIFACTS_DIR": str(models_of(checkout))}
            auth = f"Bearer {new_key(env)}"
            port, _, _ = servers.enter_context(gunicorn("wsgi:app", env, "/api/v1/health", checkout))
            targets[name] = (port, "/api/v1/sentiment", single, auth)
        for target in targets.values():  # warm-up
            wrk(*target, CONCURRENCY, 1)
        rates: dict[str, list[float]] = {name: [] for name in targets}
        for number in range(rounds):
            order = list(targets) if number % 2 == 0 else list(reversed(targets))  # neither always goes first
            for name in order:
                rates[name].append(wrk(*targets[name], CONCURRENCY, seconds)["rate"])
    print(f"sentiment at concurrency {CONCURRENCY}, {rounds} paired rounds of {seconds} s (medians)")
    print(f"{'server':<8}{'req/s':>9}{'/ other':>10}{'/ floor':>10}")
    for name, runs in rates.items():
        to_other = statistics.median(a / b for a, b in zip(runs, rates["other"], strict=True))
        to_floor = statistics.median(a / b for a, b in zip(runs, rates["floor"], strict=True))
        print(f"{name:<8}{statistics.median(runs):>9.0f}{to_other:>10.3f}{to_floor:>10.3f}")


def models_of(checkout: Path) -> Path:
    """The checkout's own trained models if it has some (a commit before skops reads only pickles), else this one's."""
    own = checkout / "artifacts"
    return own if own.is_dir() else ROOT / "artifacts"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], *(int(arg) for arg in sys.argv[2:]))

"""Gunicorn settings read from the project folder: metrics shared by all workers.

prometheus-client's multiprocess mode keeps each worker's metrics in files in
one folder, which ``/metrics`` adds up. The folder must be known before the
app (and so prometheus_client) is imported, and be empty at start: each
gunicorn master makes a fresh one unless ``PROMETHEUS_MULTIPROC_DIR`` is set,
and removes its own at exit.
"""
import os
import shutil
import tempfile
from pathlib import Path

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir, _made_here = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]), False
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in _metrics_dir.glob("*.db"):
        stale.unlink()
else:
    _metrics_dir, _made_here = Path(tempfile.mkdtemp(prefix="mlapi-metrics-")), True
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def child_exit(server, worker):
    """A worker that ended no longer counts in the live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_here:
        shutil.rmtree(_metrics_dir, ignore_errors=True)

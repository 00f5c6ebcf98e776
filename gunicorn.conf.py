"""Gunicorn settings read from the project folder: the worker, and metrics shared by all workers.

Workers are :class:`mlapi.server.gunicorn_worker.ThreadWorker`: gthread (a few threads per worker
process, so one slow client holds a thread, not a worker) where each request must arrive
within ``MLAPI_READ_TIMEOUT`` seconds (default 10) once a thread reads it, and where gunicorn's own
error answers (414, 431, a bad request line...) are problem+json. In production, put a
buffering reverse proxy (nginx) in front: it takes slow clients' bodies before gunicorn sees them.

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

worker_class = "mlapi.server.gunicorn_worker.ThreadWorker"
threads = 4  # per worker: room for slow clients and waits on the database; the work is CPU-bound (the GIL)
timeout = 30  # s without a heartbeat from a worker's main loop before the master restarts it (not per request)
graceful_timeout = 30  # s a stopping worker has to finish its requests
keepalive = 5  # s an idle kept-alive connection stays open: it waits in the poller, not in a thread

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir, _made_here = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]), False
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*_metrics_dir.glob("*.db"), *_metrics_dir.glob("mlapi-*-down"), *_metrics_dir.glob("mlapi-*-back")]:
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

"""Defaults for every setting; each ``MLAPI_<NAME>`` environment variable overrides ``<NAME>``."""
from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The checkout this package runs from (``make install`` installs it editable), where data/, artifacts/
    and var/ sit beside src/; for an installed copy (``pip install .``), the folder it is started in."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "setup.cfg").is_file() else Path.cwd()


PROJECT_ROOT = project_root()


DEV_SECRET_KEY = "development-only-not-a-secret"


class Config:
    """Safe defaults: embedded storage under the project, nothing to install."""

    ENV = "development"  # "production" refuses to start without MLAPI_SECRET_KEY
    SECRET_KEY = DEV_SECRET_KEY
    SESSION_COOKIE_SAMESITE = "Lax"  # the page session: CSRF tokens, and the key a person entered
    PUBLIC_URL = ""  # e.g. https://mlapi.example.org: where the pages' curl commands point (else this server)
    LISTEN = ""  # host:port gunicorn binds, set by make run: the home page shows a class where to connect
    TRUSTED_PROXIES = 0  # how many proxies (a load balancer) set X-Forwarded-For in front of mlapi
    CORS_ORIGINS = ""  # origins whose pages may call /api/, e.g. "http://localhost:5173 *" (access/cors.py)

    ARTIFACTS_DIR = str(PROJECT_ROOT / "artifacts")
    DATA_DIR = str(PROJECT_ROOT / "data")
    VAR_DIR = str(PROJECT_ROOT / "var")  # what mlapi writes for people: printable keys (keys create-batch)
    DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'mlapi.db'}"
    MAX_BODY_BYTES = 6 * 1024 * 1024  # the ceiling: a sentiment batch of 1,000 texts of 5,000 ASCII characters
    ALLOW_ANONYMOUS = True
    RATELIMIT_ANONYMOUS = "60/minute"
    RATELIMIT_CLIENT = "600/minute"
    RATELIMIT_ANONYMOUS_ITEMS = "1000/minute"  # items predicted per IP without a key: one full batch a minute
    RATELIMIT_CLIENT_ITEMS = "20000/minute"  # items per key: twenty full batches of 1,000 a minute
    RATELIMIT_PAGES = "3000/minute"  # page views per IP (or key), apart from the API: forty students behind one
    # classroom address, each opening a page and submitting a few times a minute (images and static files are free)
    RATELIMIT_STORAGE = f"mlapi+lmdb:///{PROJECT_ROOT / 'var' / 'ratelimits'}"
    RATELIMIT_KEY_PREFIX = "mlapi"
    KEY_GRACE_SECONDS = 300.0  # a key verified this recently keeps working while the database is unreachable
    MAX_HELD_LOG_ROWS = 100_000  # prediction-log rows a worker holds while the database is away; then oldest go
    SYNC_SECONDS = 1.0  # how often each worker checks the database for a newly activated version
    USAGE_FLUSH_SECONDS = 1.0  # how often each worker writes its keys' request counts
    MONITORING_ENABLED = True  # false: no metrics and no prediction log (benchmarks measure their cost)
    LOG_FLUSH_SECONDS = 1.0  # how often each worker writes its prediction log rows
    LOG_RETENTION_DAYS = 30  # prediction log rows older than this are deleted
    FEEDBACK_WAIT_SECONDS = 1.5  # how long feedback waits for its prediction's log row (written once a second)
    LIVE_QUALITY_CACHE_SECONDS = 30.0  # how long each worker reuses the live-quality gauges of /metrics
    MONITOR_CACHE_SECONDS = 5.0  # how long each worker reuses its summary of the last hour for /monitor
    RATELIMIT_ENABLED = True  # false switches limits off (benchmarks)
    LOG_LEVEL = "INFO"
    REQUEST_LOG_FLUSH_SECONDS = 1.0  # how often each worker writes its request log lines
    # Published models (docs/publishing.md): each upload is checked in a child process within these limits.
    PUBLISH_MAX_BYTES = 64 * 1024 * 1024  # the skops file: a tf-idf + 50-tree forest on the tweets is 33 MB
    PUBLISH_TIMEOUT_SECONDS = 60  # wall clock for reading, checking and measuring one upload
    PUBLISH_MEMORY_MB = 2048  # the child's address space
    PUBLISH_MAX_LATENCY_MS = 500.0  # median time to answer the card's example, through the serving path
    PUBLISH_VERSIONS_PER_KEY = 10  # published versions a client key may have on disk (admins: no cap)
    PUBLISH_CONCURRENCY = 2  # uploads checked at once on this machine; others wait, then get a 503
    ALERTS_EVERY_SECONDS = 60.0  # how often the alert rules are checked (by one process of all: docs/alerts.md)
    ALERT_WEBHOOKS = ""  # URLs alerts are POSTed to; "slack:https://..." for a Slack-compatible body
    ALERT_WEBHOOK_SECRET = ""  # the HMAC-SHA256 key of the X-Mlapi-Signature header (needed with a webhook)


def sqlalchemy_url(url: str) -> str:
    """Map ``postgresql://`` to the installed psycopg 3 driver; leave others as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url

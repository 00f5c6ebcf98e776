"""Tiny real models, trained once per run through the real training code."""
from __future__ import annotations

import atexit
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mlapi import create_app, extensions
from mlapi.serving.training import train_all
from mlapi.storage.database import db
from tests.servers import reachable

SAMPLE = 0.05
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, driven by Playwright in the browser tests (never a download)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_postgres = pytest.mark.skipif(
    not reachable("127.0.0.1", 5432), reason="no PostgreSQL on 127.0.0.1:5432 (start one to run this test)"
)


@pytest.fixture(autouse=True)
def no_mlapi_environment(monkeypatch):
    """The developer's own MLAPI_* settings never leak into a test."""
    import os

    for name in [n for n in os.environ if n.startswith("MLAPI_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trained")
    train_all(path, sample=SAMPLE)
    return path


@pytest.fixture
def artifacts(trained_dir, tmp_path) -> Path:
    """A private copy of the trained artifacts that a test may change."""
    return Path(shutil.copytree(trained_dir, tmp_path / "artifacts"))


def app_settings(folder: Path, artifacts: Path) -> dict:
    """An app's config for tests: ``artifacts``, and its databases in ``folder``."""
    return {
        "TESTING": True,
        "ARTIFACTS_DIR": artifacts,
        "DATABASE_URL": f"sqlite:///{folder / 'mlapi.db'}",
        "RATELIMIT_STORAGE": f"mlapi+lmdb:///{folder / 'ratelimits'}?map_mb=1",
        "RATELIMIT_ANONYMOUS": "100000/minute",  # tests of the limits set their own
        "RATELIMIT_CLIENT": "100000/minute",
        "RATELIMIT_ANONYMOUS_ITEMS": "10000000/minute",
        "RATELIMIT_CLIENT_ITEMS": "10000000/minute",
        "RATELIMIT_PAGES": "100000/minute",
        "SYNC_SECONDS": 0,  # no background threads in-process: tests call sync and flush themselves
        "USAGE_FLUSH_SECONDS": 0,
        "LOG_FLUSH_SECONDS": 0,
        "REQUEST_LOG_FLUSH_SECONDS": 0,
        "MONITOR_CACHE_SECONDS": 0,
        "ALERTS_EVERY_SECONDS": 0,  # no alert loop: tests evaluate a round themselves
    }


@pytest.fixture
def make_app(tmp_path, artifacts):
    """Build an app on this test's artifacts and SQLite file; keywords override config.

    Each app is released after its test: otherwise its flushes at exit keep it alive with its
    open files, and a few hundred tests exhaust a laptop's limit of open files.
    """
    made = []

    def make(**config):
        made.append(create_app({**app_settings(tmp_path, artifacts), **config}))
        return made[-1]

    yield make
    for app in made:
        release(app)


def release(app) -> None:
    """Let ``app`` go: it no longer flushes at exit, and its database connections close."""
    for buffer in (extensions.prediction_log, extensions.key_usage, extensions.access_log, extensions.held_counts):
        atexit.unregister(buffer(app).flush)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def postgres_schema():
    """A database URL whose tables live in a schema of their own, dropped afterwards."""
    schema = f"mlapi_test_{uuid.uuid4().hex[:8]}"
    engine = create_engine(POSTGRES.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module")
def browser():
    """Chromium, one per test module."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()

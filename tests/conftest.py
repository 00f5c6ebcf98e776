"""Tiny real models, trained once per run through the real training code."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlapi import create_app
from mlapi.training import train_all

SAMPLE = 0.05


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


@pytest.fixture
def make_app(tmp_path, artifacts):
    """Build an app on this test's artifacts and SQLite file; keywords override config."""

    def make(**config):
        settings = {
            "TESTING": True,
            "ARTIFACTS_DIR": artifacts,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'mlapi.db'}",
            "RATELIMIT_STORAGE": f"mlapi+sqlite:///{tmp_path / 'ratelimits.db'}",
            "RATELIMIT_ANONYMOUS": "100000/minute",  # tests of the limits set their own
            "RATELIMIT_CLIENT": "100000/minute",
        }
        return create_app({**settings, **config})

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()

"""The registry: newest by default, the active pointer, and refusing files that fail their sha256."""
import json

import pytest

from mlapi import extensions
from mlapi.catalog import USE_CASES
from mlapi.config import Config
from mlapi.serving.registry import ActiveVersion, ArtifactRefused, Registry, registry
from mlapi.serving.training import train_use_case
from tests.conftest import SAMPLE, needs_postgres


def add_version(artifacts) -> str:
    """Train one more real version of sentiment; return its name."""
    from pathlib import Path

    card = train_use_case(Registry(artifacts, USE_CASES), "sentiment", Path(Config.DATA_DIR), SAMPLE)
    return card["version"]


def corrupt(artifacts, version):
    path = artifacts / "sentiment" / version / "model.skops"
    path.write_bytes(path.read_bytes() + b"tampered")


def served_version(client) -> str:
    return client.post("/api/v1/sentiment", json={"text": "fine"}).get_json()["model"]["version"]


def test_newest_version_serves_by_default(artifacts, make_app):
    assert add_version(artifacts) == "v2"
    assert served_version(make_app().test_client()) == "v2"


def test_active_pointer_survives_a_restart(artifacts, make_app):
    add_version(artifacts)
    app = make_app()
    with app.app_context():
        registry.activate("sentiment", "v1")
    assert served_version(app.test_client()) == "v1"
    assert served_version(make_app().test_client()) == "v1"  # a new process reads the database


def test_tampered_file_is_refused_and_last_good_version_serves(artifacts, make_app):
    add_version(artifacts)
    corrupt(artifacts, "v2")
    client = make_app().test_client()
    assert served_version(client) == "v1"
    health = client.get("/api/v1/health")
    assert health.status_code == 503
    body = health.get_json()
    assert body["status"] == "degraded" and body["models"]["sentiment"] == "v1"
    assert any("sha256" in problem for problem in body["problems"])


def test_every_version_refused_means_503(artifacts, make_app):
    corrupt(artifacts, "v1")
    client = make_app().test_client()
    assert client.post("/api/v1/sentiment", json={"text": "fine"}).status_code == 503
    assert client.get("/api/v1/health").get_json()["models"]["sentiment"] is None


def test_activate_refuses_a_tampered_or_unknown_version(artifacts, make_app):
    add_version(artifacts)
    corrupt(artifacts, "v1")
    app = make_app()
    with app.app_context():
        for version in ("v1", "v9"):
            with pytest.raises(ArtifactRefused):
                registry.activate("sentiment", version)
        assert registry.get("sentiment").version == "v2"
        assert registry.active_version("sentiment") == "v2"


def test_version_without_card_is_not_listed(artifacts, make_app):
    (artifacts / "sentiment" / "v7").mkdir()
    app = make_app()
    with app.app_context():
        assert registry.versions("sentiment") == ["v1"]


def test_card_records_what_training_did(artifacts):
    card = json.loads((artifacts / "sentiment" / "v1" / "card.json").read_text())
    assert set(card) >= {"version", "created_at", "sha256", "metrics", "dataset", "params", "input_schema", "example"}
    assert set(card["dataset"]) == {"name", "rows", "license", "source"}


@needs_postgres
def test_active_pointer_in_postgresql(artifacts, make_app, postgres_schema):
    from mlapi.storage.database import db

    add_version(artifacts)
    app = make_app(DATABASE_URL=postgres_schema)
    with app.app_context():
        registry.activate("sentiment", "v1")
        assert db.session.get(ActiveVersion, "sentiment").version == "v1"
        assert db.engine.dialect.name == "postgresql"
    restarted = make_app(DATABASE_URL=postgres_schema)
    assert served_version(restarted.test_client()) == "v1"
    extensions.prediction_log(restarted).flush()
    with app.app_context():
        db.engine.dispose()  # let the schema be dropped

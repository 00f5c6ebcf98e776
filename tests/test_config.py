"""Configuration: defaults, MLAPI_* overrides, database URLs."""
from mlapi.config import sqlalchemy_url


def test_environment_overrides_defaults(make_app, monkeypatch):
    monkeypatch.setenv("MLAPI_MAX_BODY_BYTES", "50")
    app = make_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 50
    assert app.test_client().post("/api/v1/sentiment", json={"text": "x" * 60}).status_code == 413


def test_postgresql_urls_use_psycopg3():
    assert sqlalchemy_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert sqlalchemy_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert sqlalchemy_url("sqlite:///x.db") == "sqlite:///x.db"

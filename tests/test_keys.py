"""Keys, roles and the anonymous tier, as API.md says; the key lifecycle through the CLI."""
import pytest
from sqlalchemy import select

from mlapi import extensions
from mlapi.access.keys import ApiKey, create_key, hash_key
from mlapi.storage.database import db

TEXT = {"text": "The crew was great"}


@pytest.fixture
def keys(app):
    with app.app_context():
        return {"client": create_key("student", "client"), "admin": create_key("teacher", "admin")}


def predict(client, headers=None):
    return client.post("/api/v1/sentiment", json=TEXT, headers=headers or {})


def activate(client, headers=None):
    return client.put("/api/v1/models/sentiment/active", json={"version": "v1"}, headers=headers or {})


def assert_status(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def test_anonymous_may_predict_and_read(client):
    assert predict(client).status_code == 200
    assert client.get("/api/v1/models").status_code == 200


def test_anonymous_refused_when_switched_off(make_app):
    client = make_app(ALLOW_ANONYMOUS=False).test_client()
    assert "needs an API key" in assert_status(predict(client), 401)["detail"]
    assert client.get("/api/v1/health").status_code == 200  # load balancers still probe it
    assert client.get("/sentiment").status_code == 401  # the pages ask for a key too (tests/test_page_keys.py)


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_keys_work_in_both_headers(client, keys, header):
    value = f"Bearer {keys['client']}" if header == "Authorization" else keys["client"]
    assert predict(client, {header: value}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer mlapi_000000000000_not-a-real-secret"},
        {"X-API-Key": "guess"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"X-API-Key": ""},
        {"X-API-Key": "   "},
    ],
)
def test_unknown_or_malformed_keys_are_401_never_anonymous(client, headers):
    body = assert_status(predict(client, headers), 401)
    assert "dXNlcjpwYXNz" not in str(body) and "not-a-real-secret" not in str(body)


def test_a_tampered_secret_with_a_real_lookup_id_is_401(client, keys):
    prefix, lookup_id, secret = keys["client"].split("_", 2)
    forged = f"{prefix}_{lookup_id}_{secret[::-1]}"
    assert_status(predict(client, {"X-API-Key": forged}), 401)


def test_revoked_key_is_401(app, client, keys):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "revoke", "student"]).exit_code == 0
    assert "revoked" in assert_status(predict(client, {"X-API-Key": keys["client"]}), 401)["detail"]


def test_admin_endpoint_needs_an_admin_key(client, keys):
    assert_status(activate(client), 401)
    assert "admin key" in assert_status(activate(client, {"X-API-Key": keys["client"]}), 403)["detail"]
    response = activate(client, {"Authorization": f"Bearer {keys['admin']}"})
    assert response.status_code == 200 and response.get_json()["active_version"] == "v1"


def test_admin_activation_refuses_bad_versions(client, keys):
    admin = {"X-API-Key": keys["admin"]}
    assert "version" in assert_status(
        client.put("/api/v1/models/sentiment/active", json={"version": "v9"}, headers=admin), 422)["errors"]
    assert_status(client.put("/api/v1/models/sentiment/active", json={"version": "latest"}, headers=admin), 422)
    assert_status(client.put("/api/v1/models/astrology/active", json={"version": "v1"}, headers=admin), 404)


def test_keys_are_stored_only_as_hashes(app, keys):
    with app.app_context():
        stored = db.session.scalars(select(ApiKey)).all()
    for row in stored:
        assert row.key_hash in {hash_key(key) for key in keys.values()}
        for key in keys.values():
            assert key not in (row.key_hash, row.lookup_id, row.name)


def test_key_lifecycle_through_the_cli(app, client):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["keys", "create", "lab-3", "--role", "client", "--limit", "1200/minute"])
    assert created.exit_code == 0
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("mlapi_")
    assert runner.invoke(args=["keys", "create", "lab-3"]).exit_code != 0  # names are unique
    assert runner.invoke(args=["keys", "create", "x", "--limit", "lots"]).exit_code != 0

    for _ in range(3):
        assert predict(client, {"X-API-Key": key}).status_code == 200
    extensions.key_usage(app).flush()  # in a server, a background thread does this every second
    listing = runner.invoke(args=["keys", "list"]).output
    row = next(line for line in listing.splitlines() if line.startswith("lab-3"))
    assert "client" in row and "1200/minute" in row and row.split()[-2] == "3" and row.endswith("active")
    assert key not in listing

    assert runner.invoke(args=["keys", "revoke", "lab-3"]).exit_code == 0
    assert runner.invoke(args=["keys", "revoke", "lab-3"]).exit_code != 0
    assert "revoked" in runner.invoke(args=["keys", "list"]).output
    assert predict(client, {"X-API-Key": key}).status_code == 401


def test_usage_counts_add_up_across_flushes_and_days(app, keys):
    from datetime import UTC, datetime, timedelta

    recorder = extensions.key_usage(app)
    with app.app_context():
        row = db.session.scalar(select(ApiKey).where(ApiKey.name == "student"))
        row.usage_day, row.requests_on_usage_day = (datetime.now(UTC) - timedelta(days=1)).date(), 50
        db.session.commit()
        key_id = row.id
    for _ in range(2):
        recorder.add(key_id)
    recorder.flush()
    recorder.add(key_id)
    recorder.flush()
    with app.app_context():
        row = db.session.get(ApiKey, key_id)
        assert row.requests_today() == 3  # yesterday's 50 do not count today
        assert row.last_used_at is not None


def test_a_key_revoked_elsewhere_is_refused_once_its_second_is_over(app, client, keys, monkeypatch):
    from datetime import UTC, datetime

    from mlapi.access import keys as auth

    headers = {"X-API-Key": keys["client"]}
    assert predict(client, headers).status_code == 200  # now remembered by this worker
    with app.app_context():  # revoked by another process: this worker's memory is not told
        db.session.get(ApiKey, db.session.scalar(select(ApiKey.id).where(ApiKey.name == "student"))).revoked_at = (
            datetime.now(UTC)
        )
        db.session.commit()
    later = auth.time.monotonic() + auth.VERIFIED_FOR_SECONDS + 0.01
    monkeypatch.setattr(auth.time, "monotonic", lambda: later)
    assert "revoked" in assert_status(predict(client, headers), 401)["detail"]


def test_a_remembered_key_keeps_its_role_and_counts_its_requests(app, client, keys):
    for _ in range(3):
        assert predict(client, {"X-API-Key": keys["client"]}).status_code == 200
    assert_status(activate(client, {"X-API-Key": keys["client"]}), 403)
    extensions.key_usage(app).flush()
    with app.app_context():
        row = db.session.scalar(select(ApiKey).where(ApiKey.name == "student"))
        assert row.requests_today() == 4


def test_a_database_made_before_item_limits_gets_the_column(make_app, tmp_path):
    """A key table made by an older mlapi (no item_limit) is brought up to date at start; its keys still work."""
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE api_keys (id INTEGER PRIMARY KEY, name VARCHAR(64) UNIQUE, role VARCHAR(16), "
                    "lookup_id VARCHAR(16) UNIQUE, key_hash VARCHAR(64), rate_limit VARCHAR(64), created_at DATETIME, "
                    "last_used_at DATETIME, revoked_at DATETIME, usage_day DATE, requests_on_usage_day INTEGER)")
    app = make_app(DATABASE_URL=f"sqlite:///{path}")
    with app.app_context():
        key = create_key("after-upgrade", "client", item_limit="3/minute")
    answer = app.test_client().post("/api/v1/sentiment", json={"texts": ["ok"] * 2}, headers={"X-API-Key": key})
    assert answer.status_code == 200 and answer.headers["X-RateLimit-Items-Remaining"] == "1"

"""Keys for a class: ``keys create-batch`` (CSV and a printable page) and keys that expire (issue 26)."""
import csv
import io
from datetime import UTC, datetime, timedelta

from mlapi.access.keys import ApiKey, create_key
from mlapi.storage.database import db

SENTIMENT = {"text": "Lovely crew"}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_a_batch_prints_a_csv_of_working_keys_and_a_printable_page(app, tmp_path):
    page = tmp_path / "keys.html"
    result = app.test_cli_runner().invoke(
        args=["keys", "create-batch", "turma-a", "--count", "12", "--expires", "2099-03-01", "--page", str(page)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["name"] for row in rows] == [f"turma-a-{n:02d}" for n in range(1, 13)]
    assert {row["role"] for row in rows} == {"client"} and {row["expires"] for row in rows} == {"2099-03-02 00:00 UTC"}
    assert len({row["key"] for row in rows}) == 12
    client = app.test_client()
    for row in rows[:3]:
        assert client.post("/api/v1/sentiment", json=SENTIMENT, headers=bearer(row["key"])).status_code == 200
    printable = page.read_text()
    assert all(row["name"] in printable and row["key"] in printable for row in rows)
    assert "until 2099-03-02 00:00 UTC" in printable


def test_a_batch_refuses_names_that_exist_and_creates_none(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "create", "t-02"]).exit_code == 0
    refused = runner.invoke(args=["keys", "create-batch", "t", "--count", "3"])
    assert refused.exit_code != 0 and "t-02" in refused.output
    with app.app_context():
        assert db.session.query(ApiKey).filter(ApiKey.name.like("t-%")).count() == 1


def test_an_expiry_in_the_past_is_refused(app):
    result = app.test_cli_runner().invoke(args=["keys", "create", "late", "--expires", "2020-01-01"])
    assert result.exit_code != 0 and "passed" in result.output


def test_an_expired_key_is_a_401_that_says_so_and_is_listed_as_expired(app):
    with app.app_context():
        key = create_key("last-term", "client", expires_at=datetime.now(UTC) - timedelta(minutes=1))
        live = create_key("this-term", "client", expires_at=datetime.now(UTC) + timedelta(days=1))
    client = app.test_client()
    refused = client.post("/api/v1/sentiment", json=SENTIMENT, headers=bearer(key))
    assert refused.status_code == 401 and "expired" in refused.get_json()["detail"]
    assert client.post("/api/v1/sentiment", json=SENTIMENT, headers=bearer(live)).status_code == 200
    listing = app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert next(line for line in listing.splitlines() if line.startswith("last-term")).endswith("expired")
    assert next(line for line in listing.splitlines() if line.startswith("this-term")).endswith("active")

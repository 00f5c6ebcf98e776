"""A switch under a stream of requests, against real gunicorn: no failure, no mixed answer, all workers in 5 s."""
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlapi import create_app, extensions
from mlapi.access.keys import create_key
from mlapi.catalog import USE_CASES
from mlapi.config import Config
from mlapi.serving.registry import Registry
from mlapi.serving.training import train_use_case
from tests.conftest import needs_postgres
from tests.servers import gunicorn, request

TEXT = {"text": "The crew were kind but the flight was late"}
SWITCH_LIMIT_SECONDS = 5


def settings_for(artifacts, database_url: str, tmp_path) -> dict:
    return {"ARTIFACTS_DIR": artifacts, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING",
            "RATELIMIT_STORAGE": f"mlapi+lmdb:///{tmp_path / 'ratelimits'}?map_mb=1",
            "RATELIMIT_ANONYMOUS": "1000000/minute", "RATELIMIT_CLIENT": "1000000/minute",
            "RATELIMIT_ANONYMOUS_ITEMS": "1000000/minute", "RATELIMIT_CLIENT_ITEMS": "1000000/minute"}


def prepare(artifacts, settings) -> tuple[str, dict]:
    """A second, different sentiment version, v1 pinned as active, and an admin key."""
    train_use_case(Registry(artifacts, USE_CASES), "sentiment", Path(Config.DATA_DIR), sample=0.08)
    app = create_app({**settings, "SYNC_SECONDS": 0, "USAGE_FLUSH_SECONDS": 0})
    with app.app_context():
        extensions.registry(app).choose("sentiment", "v1")
        key = create_key(f"admin-{uuid.uuid4().hex[:6]}", "admin")
        answers = {}
        for version in ("v1", "v2"):
            loaded = extensions.registry(app).load("sentiment", version)
            answers[version] = USE_CASES[0].predict(loaded.model, [TEXT])[0]["probabilities"]
    assert answers["v1"] != answers["v2"], "the two versions must answer differently"
    return key, answers


def switch_under_load(ports: list[int], key: str, answers: dict) -> tuple[list, float]:
    """Stream requests from 6 threads, switch to v2, and time until the last v1 answer."""
    results: list[tuple[float, int, dict]] = []
    stop = threading.Event()

    def stream(worker: int) -> None:
        i = worker
        while not stop.is_set():
            status, _, body = request(ports[i % len(ports)], "POST", "/api/v1/sentiment", TEXT)
            results.append((time.monotonic(), status, body))
            i += 1

    with ThreadPoolExecutor(6) as pool:
        for worker in range(6):
            pool.submit(stream, worker)
        time.sleep(1.0)
        switched_at = time.monotonic()
        status, _, card = request(ports[0], "PUT", "/api/v1/models/sentiment/active", {"version": "v2"},
                                  {"Authorization": f"Bearer {key}"})
        assert status == 200 and card["active_version"] == "v2"
        time.sleep(SWITCH_LIMIT_SECONDS + 1)
        stop.set()

    last_old = max((at for at, _, body in results if body.get("model", {}).get("version") == "v1"), default=0)
    return results, max(0.0, last_old - switched_at)


def check(results: list, answers: dict, propagation: float) -> None:
    assert results and all(status == 200 for _, status, _ in results), "a request failed during the switch"
    for _, _, body in results:  # each answer is wholly from the version it names
        assert body["probabilities"] == answers[body["model"]["version"]]
    assert {body["model"]["version"] for _, _, body in results} == {"v1", "v2"}
    assert propagation < SWITCH_LIMIT_SECONDS


def test_switch_across_two_gunicorn_workers(artifacts, tmp_path):
    settings = settings_for(artifacts, f"sqlite:///{tmp_path / 'mlapi.db'}", tmp_path)
    key, answers = prepare(artifacts, settings)
    with gunicorn(settings, workers=2) as port:
        results, propagation = switch_under_load([port], key, answers)
    check(results, answers, propagation)


@needs_postgres
def test_switch_across_two_instances_sharing_postgresql(artifacts, tmp_path, postgres_schema):
    settings = settings_for(artifacts, postgres_schema, tmp_path)
    key, answers = prepare(artifacts, settings)
    with gunicorn(settings, workers=2) as first, gunicorn(settings, workers=2) as second:
        results, propagation = switch_under_load([first, second], key, answers)
    check(results, answers, propagation)

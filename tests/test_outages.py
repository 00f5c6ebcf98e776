"""PostgreSQL or Redis away for a while, behind a proxy the test kills or stalls, under load on two gunicorn workers.

During the outage: no 500; a key verified before it gets 200, a new key a 503 within about two seconds;
pages and anonymous calls 200. After it: every prediction made is in the prediction log exactly once,
usage counts add up, and the log says it once when it went and once when it came back.
"""
from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from mlapi import create_app
from mlapi.access.keys import create_key
from tests.conftest import release
from tests.servers import gunicorn, reachable
from tests.tcp_proxy import TcpProxy

needs_both = pytest.mark.skipif(
    not (reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379)),
    reason="needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379",
)
OUTAGE_SECONDS = 15
CALLERS = 4
BODIES = {
    "sentiment": {"text": "The crew was lovely"},
    "fraud": None,  # the card's example, read at start
    "demand": None,
}


def call(port: int, method: str, path: str, body=None, headers=None, timeout: float = 10) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request(method, path, json.dumps(body) if body is not None else None,
                       {"Content-Type": "application/json", **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.headers), data


class Load:
    """Callers that predict without pause with one key, each request with its own X-Request-ID."""

    def __init__(self, port: int, key: str, bodies: dict[str, dict]) -> None:
        self.port, self.key, self.bodies = port, key, bodies
        self.statuses: Counter = Counter()
        self.answered: list[str] = []  # request ids answered 200
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(CALLERS)]
        for thread in self.threads:
            thread.start()

    def run(self, number: int) -> None:
        names = itertools.cycle(self.bodies)
        while self.running:
            name = next(names)
            request_id = f"load-{number}-{uuid.uuid4().hex[:12]}"
            status, _, _ = call(self.port, "POST", f"/api/v1/{name}", self.bodies[name],
                                {"Authorization": f"Bearer {self.key}", "X-Request-ID": request_id})
            with self.lock:
                self.statuses[status] += 1
                if status == 200:
                    self.answered.append(request_id)

    def stop(self) -> None:
        self.running = False
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.fixture
def postgres_url(postgres_schema):
    return postgres_schema


def keys_in(url: str, artifacts) -> dict[str, str]:
    """Keys made in the database before the server starts: a client key to use, one never seen, an admin's."""
    app = create_app({"DATABASE_URL": url, "ARTIFACTS_DIR": artifacts, "SYNC_SECONDS": 0, "LOG_FLUSH_SECONDS": 0,
                      "USAGE_FLUSH_SECONDS": 0, "REQUEST_LOG_FLUSH_SECONDS": 0})
    with app.app_context():
        made = {name: create_key(name, "client") for name in ("steady", "newcomer")}
        made["admin"] = create_key("teacher", "admin")
    release(app)
    return made


def through(proxy: TcpProxy, url: str) -> str:
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")


def rows_for(url: str, key_name: str) -> tuple[Counter, int]:
    """The prediction log's request ids for ``key_name`` (with how often each occurs) and the key's usage count."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        ids = Counter(connection.execute(text("SELECT request_id FROM prediction_log WHERE key_name = :k"),
                                         {"k": key_name}).scalars())
        usage = connection.execute(text("SELECT requests_on_usage_day FROM api_keys WHERE name = :k"),
                                   {"k": key_name}).scalar()
    engine.dispose()
    return ids, usage


@needs_both
@pytest.mark.parametrize("mode", ["kill", "stall"])
def test_database_outage(mode, postgres_url, artifacts, tmp_path):
    keys = keys_in(postgres_url, artifacts)
    proxy = TcpProxy(("127.0.0.1", 5432))
    log = tmp_path / "server.log"
    settings = {"DATABASE_URL": through(proxy, postgres_url), "ARTIFACTS_DIR": artifacts,
                "RATELIMIT_STORAGE": f"mlapi+lmdb:///{tmp_path / 'limits'}", "RATELIMIT_CLIENT": "100000/minute",
                "RATELIMIT_ANONYMOUS": "100000/minute", "RATELIMIT_CLIENT_ITEMS": "100000/minute",
                "RATELIMIT_ANONYMOUS_ITEMS": "100000/minute"}
    try:
        with gunicorn(settings, log=log) as port:
            steady = {"Authorization": f"Bearer {keys['steady']}"}
            bodies = {name: body or json.loads(call(port, "GET", f"/api/v1/models/{name}")[2])["example"]
                      for name, body in BODIES.items()}
            admin = {"Authorization": f"Bearer {keys['admin']}"}
            for _ in range(4):  # the keys are verified by both workers before the outage
                assert call(port, "POST", "/api/v1/sentiment", bodies["sentiment"], steady)[0] == 200
                assert call(port, "GET", "/api/v1/models", headers=admin)[0] == 200
            load = Load(port, keys["steady"], bodies)
            time.sleep(2)
            getattr(proxy, mode)()
            during = outage_checks(port, keys["newcomer"], bodies)
            switch = call(port, "PUT", "/api/v1/models/sentiment/active", {"version": "v1"}, admin)
            proxy.restore()
            time.sleep(3)  # the workers write what they held
            load.stop()
            after = call(port, "POST", "/api/v1/sentiment", bodies["sentiment"], {"Authorization":
                                                                                  f"Bearer {keys['newcomer']}"})
            health = json.loads(call(port, "GET", "/api/v1/health")[2])
            time.sleep(2.5)  # the last flush
    finally:
        proxy.close()
    assert during["no_500"], during
    assert during["new_key_status"] == 503 and during["new_key_seconds"] < 3, during
    assert during["retry_after"] and during["problem"], during
    assert during["pages"] == [200, 200] and during["anonymous"] == 200, during
    assert during["health_status"] == 200 and during["health_database"] == "down", during
    assert switch[0] == 503 and switch[1]["Retry-After"]  # a version switch needs the database
    assert after[0] == 200 and health["database"] == "up" and health["models"]["sentiment"] == "v1"
    assert load.statuses[500] == 0 and set(load.statuses) == {200}, load.statuses
    ids, usage = rows_for(postgres_url, "steady")
    assert set(ids) >= set(load.answered) and max(ids.values()) == 1  # every prediction, exactly once
    assert usage == 4 + sum(load.statuses.values())
    print(f"database {mode}: {sum(load.statuses.values())} keyed predictions, all 200, {len(ids)} log rows; "
          f"a new key's 503 in {during['new_key_seconds']:.2f} s")
    said = log.read_text()
    assert said.count("database unreachable") == 1, said[-3000:]
    assert said.count("database reachable again") == 1, said[-3000:]
    assert "Traceback" not in said


def outage_checks(port: int, new_key: str, bodies: dict) -> dict:
    """What a client sees while the database is away: polled for OUTAGE_SECONDS."""
    found: dict = {"no_500": True}
    ends = time.monotonic() + OUTAGE_SECONDS
    time.sleep(1)
    started = time.monotonic()
    status, headers, body = call(port, "POST", "/api/v1/sentiment", bodies["sentiment"],
                                 {"Authorization": f"Bearer {new_key}"})
    found.update(new_key_status=status, new_key_seconds=time.monotonic() - started,
                 retry_after=headers.get("Retry-After"),
                 problem=headers.get("Content-Type") == "application/problem+json")
    while time.monotonic() < ends:
        pages = [call(port, "GET", "/sentiment")[0], call(port, "POST", "/api/v1/fraud", bodies["fraud"])[0]]
        found["pages"] = [pages[0], call(port, "GET", "/monitor")[0]]
        found["anonymous"] = pages[1]
        health_status, _, health = call(port, "GET", "/api/v1/health")
        found.update(health_status=health_status, health_database=json.loads(health)["database"])
        if 500 in (*pages, *found["pages"], health_status):
            found["no_500"] = False
        time.sleep(0.5)
    return found


@needs_both
@pytest.mark.parametrize("mode", ["kill", "stall"])
def test_redis_outage(mode, artifacts, tmp_path):
    proxy = TcpProxy(("127.0.0.1", 6379))
    prefix = f"mlapi-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "server.log"
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'mlapi.db'}", "ARTIFACTS_DIR": artifacts,
                "RATELIMIT_STORAGE": f"redis://127.0.0.1:{proxy.port}/0", "RATELIMIT_KEY_PREFIX": prefix,
                "RATELIMIT_ANONYMOUS": "20/minute"}
    body = {"text": "On time and friendly"}
    try:
        with gunicorn(settings, log=log) as port:
            before = [call(port, "POST", "/api/v1/sentiment", body) for _ in range(5)]
            assert [int(headers["X-RateLimit-Remaining"]) for _, headers, _ in before] == [19, 18, 17, 16, 15]
            getattr(proxy, mode)()
            time.sleep(0.5)
            during = []
            ends = time.monotonic() + 8
            while time.monotonic() < ends:
                during.append(call(port, "POST", "/api/v1/sentiment", body)[0])
            health = json.loads(call(port, "GET", "/api/v1/health")[2])
            proxy.restore()
            time.sleep(2.5)  # each worker tries the storage again within two seconds
            after = [call(port, "POST", "/api/v1/sentiment", body)[1].get("X-RateLimit-Remaining") for _ in range(2)]
            time.sleep(1.5)
    finally:
        proxy.close()
    assert len(during) > 15 and set(during) == {200}  # over the limit of 20, answered: limits fail open
    assert health["limit_storage"] == "down"
    if mode == "kill":
        assert after == ["14", "13"]  # counted again exactly where the window was
    else:  # a hit sent into the stalled link reaches Redis when it flows again, and counts then
        assert int(after[0]) <= 14 and int(after[1]) == int(after[0]) - 1
    print(f"redis {mode}: {len(during)} requests over the limit answered during the outage, then {after}")
    said = log.read_text()
    assert said.count("rate-limit storage unreachable") == 1, said[-3000:]
    assert said.count("rate-limit storage reachable again") == 1, said[-3000:]
    assert "Traceback" not in said
    import redis

    client = redis.Redis(port=6379)
    for stale in client.scan_iter(f"LIMITS:{prefix}*"):
        client.delete(stale)
    client.close()


def test_an_outage_is_said_once_across_workers_and_a_late_failure_is_not_a_new_one(tmp_path, caplog):
    from prometheus_client import Gauge

    from mlapi.storage.outages import Outage

    gauge = Gauge("test_outage_up", "a test gauge")
    workers = [Outage("database", gauge, tmp_path, lambda: "details", lambda: "held") for _ in range(2)]
    with caplog.at_level("INFO", logger="mlapi.storage.outages"):
        for worker in workers:
            worker.failed(OSError("refused"))
        assert not any(worker.up for worker in workers) and gauge._value.get() == 0
        for worker in workers:
            worker.answered()
        workers[1].failed(OSError("a call made before it came back"))  # within FLAP_SECONDS
        workers[1].answered()
    said = [record.getMessage() for record in caplog.records]
    assert [line.split(" (")[0].split(" after")[0] for line in said] == [
        "database unreachable", "database reachable again"]

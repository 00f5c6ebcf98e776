"""GET /metrics: counters that move with requests, and stay right across 2 gunicorn workers."""
import http.client
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from mlapi import extensions
from mlapi.observability import metrics
from tests.servers import gunicorn, request

TEXT = {"text": "The crew was lovely"}


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a Prometheus text page: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: dict, name: str, **labels) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


def test_counters_move_after_requests(client):
    before = scrape(client)
    client.post("/api/v1/sentiment", json={"texts": ["Thank you, lovely crew!", "Lost my bag, awful."]})
    client.post("/api/v1/sentiment", json={"text": ""})
    after = scrape(client)
    route = {"endpoint": "/api/v1/sentiment", "method": "POST"}
    assert value(after, "mlapi_http_requests_total", **route, status="200") == \
        value(before, "mlapi_http_requests_total", **route, status="200") + 1
    assert value(after, "mlapi_http_requests_total", **route, status="422") == \
        value(before, "mlapi_http_requests_total", **route, status="422") + 1
    latency = {"use_case": "sentiment", "version": "v1"}
    assert value(after, "mlapi_prediction_duration_seconds_count", **latency) == \
        value(before, "mlapi_prediction_duration_seconds_count", **latency) + 1
    predicted = sum(value(after, "mlapi_predictions_total", **latency, predicted=label) -
                    value(before, "mlapi_predictions_total", **latency, predicted=label)
                    for label in ("negative", "neutral", "positive"))
    assert predicted == 2  # a batch counts each item


def test_active_versions_and_rate_limit_rejections(make_app):
    client = make_app(RATELIMIT_ANONYMOUS="1/minute").test_client()
    before = scrape(client)
    client.post("/api/v1/sentiment", json=TEXT)
    assert client.post("/api/v1/sentiment", json=TEXT).status_code == 429
    after = scrape(client)
    rejected = {"use_case": "sentiment", "tier": "anonymous"}
    assert value(after, "mlapi_rate_limited_total", **rejected) == value(before, "mlapi_rate_limited_total",
                                                                          **rejected) + 1
    for name in ("sentiment", "recommend", "xray", "demand", "fraud"):
        assert value(after, "mlapi_model_active", use_case=name, version="v1") == 1


def test_model_load_failures_are_counted(artifacts, make_app):
    client = make_app().test_client()
    before = value(scrape(client), "mlapi_model_load_failures_total", use_case="fraud")
    (Path(artifacts) / "fraud" / "v1" / "model.skops").write_bytes(b"tampered")
    after = value(scrape(make_app().test_client()), "mlapi_model_load_failures_total", use_case="fraud")
    assert after == before + 1


def test_counts_are_right_across_two_gunicorn_workers(artifacts, tmp_path, monkeypatch):
    metrics_dir = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))  # where the workers keep their values
    settings = {"ARTIFACTS_DIR": artifacts, "DATABASE_URL": f"sqlite:///{tmp_path / 'mlapi.db'}",
                "RATELIMIT_STORAGE": f"mlapi+lmdb:///{tmp_path / 'limits'}?map_mb=1",
                "RATELIMIT_ANONYMOUS": "100000/minute", "RATELIMIT_ANONYMOUS_ITEMS": "100000/minute",
                "LOG_LEVEL": "WARNING"}
    statuses: list[int] = []
    with gunicorn(settings, workers=2) as port:
        deadline = time.monotonic() + 30
        while len(writers(metrics_dir)) < 2 and time.monotonic() < deadline:  # the second may still be starting
            with ThreadPoolExecutor(6) as pool:
                statuses += pool.map(lambda _: request(port, "POST", "/api/v1/sentiment", TEXT)[0], range(60))
        answered_by = writers(metrics_dir)
        sent = len(statuses)
        deadline = time.monotonic() + 10  # each worker adds its held counts once a second
        while True:
            pages = [samples(get_text(port, "/metrics")) for _ in range(6)]  # whichever worker answers
            if {value(page, "mlapi_http_requests_total", **ROUTE_200) for page in pages} == {sent}:
                break
            assert time.monotonic() < deadline, "the workers' counts did not add up to what was sent"
            time.sleep(0.2)
    assert statuses == [200] * sent
    assert len(answered_by) >= 2, "both workers should have answered some requests"
    latency = {"use_case": "sentiment", "version": "v1"}
    assert {value(page, "mlapi_prediction_duration_seconds_count", **latency) for page in pages} == {sent}


ROUTE_200 = {"endpoint": "/api/v1/sentiment", "method": "POST", "status": "200"}


def writers(metrics_dir: Path) -> set[str]:
    """The pids of the workers that have counted something."""
    return {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}


def get_text(port: int, path: str) -> str:
    """The body of a GET, as text."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    text = connection.getresponse().read().decode()
    connection.close()
    return text


def test_counts_are_held_until_flushed_then_added_once(app, client):
    before = scrape(client)
    client.post("/api/v1/sentiment", json=TEXT)
    held = extensions.held_counts(app)
    assert held.pending.requests[("/api/v1/sentiment", "POST", 200)] == 1
    held.flush()
    held.flush()  # flushing again adds nothing
    after = scrape(client)
    assert value(after, "mlapi_http_requests_total", **ROUTE_200) == value(before, "mlapi_http_requests_total",
                                                                           **ROUTE_200) + 1


def test_a_serving_worker_applies_its_counts_by_itself(make_app):
    app = make_app(LOG_FLUSH_SECONDS=0.05)
    app.test_client().post("/api/v1/sentiment", json=TEXT)
    held = extensions.held_counts(app)
    deadline = time.monotonic() + 5
    while held.pending.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not held.pending.requests and not held.pending.seconds


def test_odd_methods_do_not_mint_new_series(client):
    client.open("/api/v1/sentiment", method="BREW")
    page = scrape(client)
    assert value(page, "mlapi_http_requests_total", endpoint="(unmatched)", method="other", status="405") >= 1
    assert not any(("method", "BREW") in labels for _, labels in page)


def test_a_healthy_server_says_its_database_and_limit_storage_are_up(artifacts, tmp_path):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'mlapi.db'}", "ARTIFACTS_DIR": artifacts,
                "RATELIMIT_STORAGE": f"mlapi+lmdb:///{tmp_path / 'ratelimits'}?map_mb=1"}
    with gunicorn(settings) as port:
        for _ in range(4):  # both workers answer some
            request(port, "POST", "/api/v1/sentiment", TEXT)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/metrics")
        page = samples(connection.getresponse().read().decode())
        connection.close()
    assert value(page, "mlapi_database_up") == 1.0
    assert value(page, "mlapi_ratelimit_storage_up") == 1.0


def test_a_worker_file_caught_being_created_is_read_again(monkeypatch):
    """prometheus-client fails on a file a worker has created but not yet sized; the scrape reads again."""
    reads = []

    class Racing:
        def collect(self):
            reads.append(1)
            if len(reads) == 1:
                raise struct.error("unpack_from requires a buffer of at least 4 bytes")
            return ["families"]

    monkeypatch.setattr(metrics.EveryWorker, "source", staticmethod(Racing))
    assert metrics.EveryWorker().collect() == ["families"] and len(reads) == 2

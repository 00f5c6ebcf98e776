"""Rate limits: headers, 429s, batch cost, per-key limits, exactness across workers and instances, fail open."""
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from limits import parse
from limits.errors import ConfigurationError

from mlapi import extensions
from mlapi.access.keys import create_key
from mlapi.config import Config
from tests.servers import gunicorn, reachable, request

TEXT = {"text": "fine"}


def predict(client, body=TEXT, headers=None):
    return client.post("/api/v1/sentiment", json=body, headers=headers or {})


def test_every_limited_response_carries_the_rate_headers(make_app):
    client = make_app(RATELIMIT_ANONYMOUS="50/minute").test_client()
    for response in (predict(client), client.get("/api/v1/models"), client.get("/api/v1/movies?q=x"),
                     predict(client, {"text": ""}), client.get("/api/v1/nothing"),
                     predict(client, headers={"Authorization": "Bearer mlapi_0000_unknown"})):
        assert response.headers["X-RateLimit-Limit"] == "50"
        assert int(response.headers["X-RateLimit-Remaining"]) < 50
        assert int(response.headers["X-RateLimit-Reset"]) > 0
        assert "Retry-After" not in response.headers


@pytest.mark.parametrize("storage", ["embedded", "memory://"])  # one LMDB transaction; limits' incr, then get_expiry
def test_the_headers_follow_the_window_with_either_kind_of_storage(make_app, storage):
    app = make_app(RATELIMIT_ANONYMOUS="5/minute", **({} if storage == "embedded" else {"RATELIMIT_STORAGE": storage}))
    client = app.test_client()
    started = time.time()
    answers = [predict(client).headers for _ in range(3)]
    assert [headers["X-RateLimit-Remaining"] for headers in answers] == ["4", "3", "2"]
    assert len({headers["X-RateLimit-Reset"] for headers in answers}) == 1  # one window
    assert started + 59 <= int(answers[0]["X-RateLimit-Reset"]) <= time.time() + 60


def test_over_the_limit_is_a_problem_429_with_retry_after(make_app):
    client = make_app(RATELIMIT_ANONYMOUS="3/minute").test_client()
    assert [predict(client).status_code for _ in range(4)] == [200, 200, 200, 429]
    response = predict(client)
    assert response.mimetype == "application/problem+json" and response.get_json()["status"] == 429
    assert "the limit is 3 requests per minute." in response.get_json()["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_refused_keys_count_against_their_ip_and_roles_against_their_key(app, make_app):
    client = make_app(RATELIMIT_ANONYMOUS="3/minute").test_client()
    unknown = {"Authorization": "Bearer mlapi_0000_unknown"}
    assert [predict(client, headers=unknown).headers["X-RateLimit-Remaining"] for _ in range(2)] == ["2", "1"]
    assert [predict(client).status_code for _ in range(2)] == [200, 429]  # key guessing spent the IP's budget
    with app.app_context():
        key = create_key("lab", "client", "5/minute")
    refused = app.test_client().put("/api/v1/models/sentiment/active", json={"version": "v1"},
                                    headers={"X-API-Key": key})
    assert refused.status_code == 403
    assert refused.headers["X-RateLimit-Limit"] == "5" and refused.headers["X-RateLimit-Remaining"] == "4"


def test_pages_are_limited_per_ip_in_their_own_window(make_app):
    client = make_app(RATELIMIT_PAGES="2/minute").test_client()
    assert [client.get("/sentiment").status_code for _ in range(3)] == [200, 200, 429]
    page = client.get("/sentiment")
    assert page.mimetype == "text/html" and "Retry-After" in page.headers
    assert client.get("/api/v1/health").status_code == 200  # probes are never limited


def test_a_batch_costs_one_request_and_its_items(make_app):
    client = make_app(RATELIMIT_ANONYMOUS="10/minute", RATELIMIT_ANONYMOUS_ITEMS="10/minute").test_client()
    six = predict(client, {"texts": ["ok"] * 6})
    assert six.status_code == 200
    assert (six.headers["X-RateLimit-Remaining"], six.headers["X-RateLimit-Items-Remaining"]) == ("9", "4")
    assert six.headers["X-RateLimit-Items-Limit"] == "10" and six.headers["X-RateLimit-Nearest"] == "items"
    five = predict(client, {"texts": ["ok"] * 5})
    assert five.status_code == 429 and int(five.headers["Retry-After"]) >= 1
    assert five.headers["X-RateLimit-Items-Remaining"] == "4"  # a refused batch's items are given back
    assert "retry after" in five.get_json()["detail"].lower()
    four = predict(client, {"texts": ["ok"] * 4})
    assert four.status_code == 200 and four.headers["X-RateLimit-Items-Remaining"] == "0"
    assert four.headers["X-RateLimit-Remaining"] == "7"


def test_other_routes_cost_one_request_and_no_items(make_app):
    client = make_app(RATELIMIT_ANONYMOUS="10/minute").test_client()
    models = client.get("/api/v1/models")
    assert models.headers["X-RateLimit-Remaining"] == "9" and "X-RateLimit-Items-Remaining" not in models.headers
    assert models.headers["X-RateLimit-Nearest"] == "requests"


def test_ten_full_batches_a_minute_with_a_default_client_key(make_app):
    app = make_app(RATELIMIT_CLIENT=Config.RATELIMIT_CLIENT, RATELIMIT_CLIENT_ITEMS=Config.RATELIMIT_CLIENT_ITEMS)
    with app.app_context():
        key = create_key("batches", "client")
    client = app.test_client()
    texts = [f"Flight {number} was on time, thank you" for number in range(1000)]
    answers = [predict(client, {"texts": texts}, headers={"X-API-Key": key}) for _ in range(10)]
    assert [answer.status_code for answer in answers] == [200] * 10
    assert answers[-1].headers["X-RateLimit-Items-Remaining"] == str(parse(Config.RATELIMIT_CLIENT_ITEMS).amount
                                                                      - 10_000)


def test_a_batch_that_breaks_the_schema_costs_one_request_and_no_items(make_app):
    app = make_app(RATELIMIT_CLIENT_ITEMS="5000/minute")
    with app.app_context():
        key = create_key("too-many", "client")
    client = app.test_client()
    refused = predict(client, {"texts": ["ok"] * 1001}, headers={"X-API-Key": key})
    assert refused.status_code == 422 and "texts" in refused.get_json()["errors"]
    after = predict(client, headers={"X-API-Key": key})
    assert after.headers["X-RateLimit-Items-Remaining"] == "4999"  # only this one item was ever charged
    assert after.headers["X-RateLimit-Remaining"] == "99998"  # the refused request did count


def test_a_batch_larger_than_the_whole_item_limit_says_to_split_it(app):
    with app.app_context():
        key = create_key("small-items", "client", item_limit="500/minute")
    client = app.test_client()
    refused = predict(client, {"texts": ["ok"] * 600}, headers={"X-API-Key": key})
    assert refused.status_code == 422 and "Retry-After" not in refused.headers
    assert "batches of at most 500" in refused.get_json()["detail"]
    assert refused.get_json()["errors"]["texts"] == [refused.get_json()["detail"]]
    assert predict(client, headers={"X-API-Key": key}).headers["X-RateLimit-Items-Remaining"] == "499"


def test_each_key_has_its_own_counter_and_may_have_its_own_limit(app):
    with app.app_context():
        small = create_key("small", "client", "2/minute")
        default = create_key("default", "client")
    client = app.test_client()
    assert [predict(client, headers={"X-API-Key": small}).status_code for _ in range(3)] == [200, 200, 429]
    other = predict(client, headers={"X-API-Key": default})
    assert other.status_code == 200 and other.headers["X-RateLimit-Limit"] == "100000"
    assert predict(client).status_code == 200  # anonymous counts per IP, apart from the keys


def test_limit_storage_down_fails_open_logged_and_counted(make_app, caplog):
    app = make_app(RATELIMIT_STORAGE="redis://127.0.0.1:1")  # nothing listens there
    client = app.test_client()
    assert [predict(client).status_code for _ in range(3)] == [200, 200, 200]
    assert extensions.rate_limits(app).failures >= 3
    assert caplog.text.count("rate-limit storage unreachable") == 1  # said once, not once a request
    health = client.get("/api/v1/health")
    assert health.status_code == 200  # shared by every instance: see api.health
    body = health.get_json()
    assert body["status"] == "degraded" and body["limit_storage"] == "down"
    assert any("rate-limit storage unreachable" in problem for problem in body["problems"])


def test_limits_can_be_switched_off(make_app):
    client = make_app(RATELIMIT_ENABLED=False, RATELIMIT_ANONYMOUS="1/minute").test_client()
    assert [predict(client).status_code for _ in range(3)] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in predict(client).headers
    assert client.get("/api/v1/health").status_code == 200


def test_a_malformed_limit_setting_stops_the_start(make_app):
    with pytest.raises(ValueError):
        make_app(RATELIMIT_CLIENT="plenty")


def test_an_unknown_storage_stops_the_start_naming_the_setting(make_app):
    with pytest.raises(ConfigurationError, match="MLAPI_RATELIMIT_STORAGE: unknown storage scheme.*mlapi\\+lmdb"):
        make_app(RATELIMIT_STORAGE="mlapi+sqlite:///var/ratelimits.db")  # the embedded storage before LMDB


def burst(ports: list[int], count: int) -> list[int]:
    """``count`` predictions spread over ``ports`` from 8 threads; their statuses."""
    def one(i: int) -> int:
        return request(ports[i % len(ports)], "POST", "/api/v1/sentiment", TEXT)[0]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def served_settings(artifacts, tmp_path, storage: str, **extra) -> dict:
    return {
        "ARTIFACTS_DIR": artifacts,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'mlapi.db'}",
        "RATELIMIT_STORAGE": storage,
        "RATELIMIT_ANONYMOUS": "20/minute",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def test_exact_across_two_gunicorn_workers_with_the_embedded_storage(artifacts, tmp_path):
    settings = served_settings(artifacts, tmp_path, f"mlapi+lmdb:///{tmp_path / 'ratelimits'}?map_mb=1")
    with gunicorn(settings, workers=2) as port:
        statuses = burst([port], 30)
    assert statuses.count(200) == 20 and statuses.count(429) == 10


@pytest.mark.skipif(not reachable("127.0.0.1", 6379), reason="no Redis on 127.0.0.1:6379 (start one to run this test)")
def test_exact_across_two_instances_sharing_redis(artifacts, tmp_path):
    import redis

    prefix = f"mlapi-test-{uuid.uuid4().hex}"
    settings = served_settings(artifacts, tmp_path, "redis://127.0.0.1:6379/0", RATELIMIT_KEY_PREFIX=prefix)
    try:
        with gunicorn(settings, workers=2) as first, gunicorn(settings, workers=2) as second:
            statuses = burst([first, second], 30)
        assert statuses.count(200) == 20 and statuses.count(429) == 10
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379, db=0)
        leftovers = list(client.scan_iter(match=f"*{prefix}*"))
        if leftovers:
            client.delete(*leftovers)

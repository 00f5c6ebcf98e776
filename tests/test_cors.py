"""CORS: which origins' pages may call /api/, with or without a key; preflights answered before keys and limits."""
import pytest

from mlapi.access.cors import ALLOW_HEADERS, EXPOSE_HEADERS, parse_origins
from mlapi.access.keys import create_key

APP = "http://app.example:5173"  # the origin listed by name
OTHER = "https://elsewhere.example"  # admitted by "*" only, when the setting holds it
TEXT = {"text": "Lovely crew"}


def preflight(client, path="/api/v1/sentiment", origin=APP, method="POST", headers="authorization, content-type"):
    return client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": headers})


def cors_headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


def allowed_headers(response) -> set[str]:
    value = response.headers.get("Access-Control-Allow-Headers", "")
    return {name.strip().lower() for name in value.split(",") if name.strip()}


def exposed_headers(response) -> set[str]:
    return {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}


@pytest.fixture
def listed(make_app):
    """An app that lets one origin's pages call the API."""
    return make_app(CORS_ORIGINS=APP)


def test_by_default_no_answer_carries_cors_headers(app):
    client = app.test_client()
    for response in (client.post("/api/v1/sentiment", json=TEXT, headers={"Origin": APP}),
                     preflight(client), client.get("/api/v1/models", headers={"Origin": OTHER})):
        assert not cors_headers(response)
        assert "Origin" not in response.vary


def test_a_listed_origin_gets_its_origin_back_and_may_read_the_rate_and_request_id_headers(listed):
    response = listed.test_client().post("/api/v1/sentiment", json=TEXT, headers={"Origin": APP})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert exposed_headers(response) == set(EXPOSE_HEADERS)
    assert {"X-Request-ID", "X-RateLimit-Remaining"} <= exposed_headers(response) & set(response.headers.keys())
    assert "Origin" in response.vary
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("anonymous", [True, False])
def test_a_preflight_from_a_listed_origin_allows_the_key_headers_and_is_never_refused(make_app, anonymous):
    client = make_app(CORS_ORIGINS=APP, ALLOW_ANONYMOUS=anonymous).test_client()
    response = preflight(client, headers="authorization, x-api-key, content-type, x-request-id")
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert allowed_headers(response) == {name.lower() for name in ALLOW_HEADERS}
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert not [name for name in response.headers.keys() if name.startswith("X-RateLimit")]
    admin_only = preflight(client, "/api/v1/models/sentiment/active", method="PUT")
    assert admin_only.status_code in (200, 204) and "PUT" in admin_only.headers["Access-Control-Allow-Methods"]


def test_an_unlisted_origin_gets_no_allow_origin(listed):
    client = listed.test_client()
    for response in (preflight(client, origin=OTHER),
                     client.post("/api/v1/sentiment", json=TEXT, headers={"Origin": OTHER})):
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Headers" not in response.headers
        assert "Origin" in response.vary  # the answer to the listed origin differs


def test_a_star_admits_every_other_origin_without_a_key(make_app):
    app = make_app(CORS_ORIGINS=f"{APP} *")
    with app.app_context():
        key = create_key("lab-3", "client")
    client = app.test_client()

    keyed = preflight(client, origin=OTHER, headers="authorization, content-type")
    assert keyed.headers["Access-Control-Allow-Origin"] == "*"
    assert allowed_headers(keyed) == {"content-type"}  # so the browser does not send the key
    assert "x-api-key" not in allowed_headers(preflight(client, origin=OTHER, headers="x-api-key, content-type"))
    assert "PUT" not in preflight(client, origin=OTHER).headers["Access-Control-Allow-Methods"]

    anonymous = client.post("/api/v1/sentiment", json=TEXT, headers={"Origin": OTHER})
    assert anonymous.status_code == 200
    assert anonymous.headers["Access-Control-Allow-Origin"] == "*"
    assert exposed_headers(anonymous) == set(EXPOSE_HEADERS)
    for carried in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):  # sent anyway, by a non-browser
        assert "Access-Control-Allow-Origin" not in client.post(
            "/api/v1/sentiment", json=TEXT, headers={"Origin": OTHER, **carried}).headers

    listed_keyed = preflight(client, origin=APP)  # the listed origin keeps its key headers
    assert listed_keyed.headers["Access-Control-Allow-Origin"] == APP
    assert "authorization" in allowed_headers(listed_keyed)
    answer = client.post("/api/v1/sentiment", json=TEXT, headers={"Origin": APP, "Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == APP
    for response in (keyed, anonymous, answer):
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_preflights_are_never_counted(make_app):
    client = make_app(CORS_ORIGINS=APP, RATELIMIT_ANONYMOUS="3/minute").test_client()
    for _ in range(20):
        response = preflight(client)
        assert response.status_code in (200, 204)
        assert "X-RateLimit-Remaining" not in response.headers
    assert client.get("/api/v1/models", headers={"Origin": APP}).headers["X-RateLimit-Remaining"] == "2"


def test_error_answers_carry_the_cors_headers(make_app):
    origin = {"Origin": APP}
    keyed_only = make_app(CORS_ORIGINS=APP, ALLOW_ANONYMOUS=False).test_client()
    unauthorized = keyed_only.post("/api/v1/sentiment", json=TEXT, headers=origin)
    unknown_key = keyed_only.post("/api/v1/sentiment", json=TEXT, headers={**origin, "X-API-Key": "mlapi_0_x"})
    limited = make_app(CORS_ORIGINS=APP, RATELIMIT_ANONYMOUS="2/minute").test_client()
    invalid = limited.post("/api/v1/sentiment", json={"text": ""}, headers=origin)
    limited.post("/api/v1/sentiment", json=TEXT, headers=origin)
    over = limited.post("/api/v1/sentiment", json=TEXT, headers=origin)
    assert [unauthorized.status_code, unknown_key.status_code, invalid.status_code, over.status_code] == [
        401, 401, 422, 429]
    assert "Retry-After" in over.headers
    for response in (unauthorized, unknown_key, invalid, over):
        assert response.mimetype == "application/problem+json"
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert exposed_headers(response) == set(EXPOSE_HEADERS)


def test_pages_static_files_and_metrics_never_carry_cors_headers(make_app):
    client = make_app(CORS_ORIGINS=f"{APP} *").test_client()
    for path in ("/", "/sentiment", "/monitor", "/models", "/static/css/mlapi.css", "/metrics", "/docs"):
        for response in (client.get(path, headers={"Origin": APP}), preflight(client, path, method="GET")):
            assert response.status_code < 400, path
            assert not cors_headers(response), path
            assert "Origin" not in response.vary, path


def test_curl_and_same_origin_calls_get_nothing_added(listed):
    client = listed.test_client()  # the test client's requests go to http://localhost
    for headers in ({}, {"Origin": "http://localhost"}):
        response = client.post("/api/v1/sentiment", json=TEXT, headers=headers)
        assert response.status_code == 200
        assert not cors_headers(response)
        assert "Origin" not in response.vary


def test_the_setting_is_read_as_browsers_write_origins():
    assert parse_origins("") == (frozenset(), False)
    assert parse_origins(" HTTP://LocalHost:5173, https://app.example.org:443\n*") == (
        frozenset({"http://localhost:5173", "https://app.example.org"}), True)
    assert parse_origins(["http://[::1]:8080", "http://a.example:80", "http://a.example"]) == (
        frozenset({"http://[::1]:8080", "http://a.example"}), False)


def test_a_setting_given_as_a_json_list_in_the_environment_works(make_app, monkeypatch):
    monkeypatch.setenv("MLAPI_CORS_ORIGINS", f'["{APP}"]')
    response = make_app().test_client().post("/api/v1/sentiment", json=TEXT, headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Origin"] == APP


@pytest.mark.parametrize("setting", ["localhost:5173", "http://app.example/", "http://app.example/api",
                                     "ftp://app.example", "null", "http://", "http://app.example:99999",
                                     "https://user@app.example", "http://app.example?x=1", "*.example.org"])
def test_a_malformed_origin_stops_the_start_and_names_the_setting(make_app, monkeypatch, setting):
    monkeypatch.setenv("MLAPI_CORS_ORIGINS", f"{APP} {setting}")
    with pytest.raises(ValueError, match="MLAPI_CORS_ORIGINS") as refused:
        make_app()
    assert repr(setting) in str(refused.value)

"""With anonymous callers refused, the pages ask for a key, kept in the page session; keys count on every route."""
import re

import pytest

from mlapi import extensions
from mlapi.access.keys import SESSION_KEY, create_key
from mlapi.observability.prediction_log import PredictionLog
from mlapi.storage.database import db

TEXT = {"text": "The crew was great"}


@pytest.fixture
def closed(make_app):
    app = make_app(ALLOW_ANONYMOUS=False)
    with app.app_context():
        app.config["keys"] = {"client": create_key("student", "client"), "admin": create_key("teacher", "admin")}
    return app


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def enter_key(client, key: str, next_path: str = "/sentiment"):
    asked = client.get(next_path)
    token = csrf_of(asked.get_data(as_text=True))
    return client.post("/key", data={"key": key, "next": next_path, "csrf_token": token})


@pytest.mark.parametrize("method, path, data", [
    ("get", "/sentiment", None), ("post", "/sentiment", {"text": "hello"}), ("get", "/recommend", None),
    ("get", "/demand", None), ("post", "/fraud", {"example": "0"}), ("get", "/xray", None),
    ("post", "/xray", {"example": "1"}), ("get", "/xray/examples/0.png", None),
])
def test_every_page_that_reaches_a_model_asks_for_a_key(closed, method, path, data):
    client = closed.test_client()
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 401 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'name="key"' in html and 'action="/key"' in html and f'value="{path}"' in html
    extensions.prediction_log(closed).flush()
    with closed.app_context():
        assert db.session.query(PredictionLog).count() == 0  # nothing was predicted


def test_pages_without_a_model_stay_open(closed):
    client = closed.test_client()
    for path in ("/", "/models", "/monitor", "/api/docs"):
        assert client.get(path).status_code == 200


def test_a_key_entered_once_serves_the_pages_as_that_key(closed):
    client = closed.test_client()
    entered = enter_key(client, closed.config["keys"]["client"])
    assert entered.status_code == 303 and entered.headers["Location"] == "/sentiment"
    cookie = entered.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert closed.config["keys"]["client"] not in cookie  # the key itself is never in the cookie
    page = client.post("/sentiment", data={"text": "Lovely crew"})
    assert page.status_code == 200 and "Key: student" in page.get_data(as_text=True)
    assert 'Authorization: Bearer $MLAPI_KEY' in page.get_data(as_text=True)  # used with a key: the curl sends one
    extensions.prediction_log(closed).flush()
    with closed.app_context():
        [row] = db.session.query(PredictionLog).all()
        assert (row.key_name, row.channel, row.status) == ("student", "page", 200)


def test_over_https_the_cookie_is_secure(closed):
    client = closed.test_client()
    asked = client.get("/sentiment", base_url="https://localhost")
    token = csrf_of(asked.get_data(as_text=True))
    form = {"key": closed.config["keys"]["client"], "next": "/sentiment", "csrf_token": token}
    entered = client.post("/key", base_url="https://localhost", data=form)
    assert entered.status_code == 303 and "Secure" in entered.headers["Set-Cookie"]


def test_a_wrong_key_or_a_forged_form_is_refused(closed):
    client = closed.test_client()
    assert enter_key(client, "mlapi_000000000000_guess").status_code == 401
    forged = client.post("/key", data={"key": closed.config["keys"]["client"], "next": "/sentiment"})
    assert forged.status_code == 400
    assert client.get("/sentiment").status_code == 401


def test_a_revoked_key_is_forgotten_and_forget_signs_out(closed):
    client = closed.test_client()
    enter_key(client, closed.config["keys"]["client"])
    assert client.get("/sentiment").status_code == 200
    runner = closed.test_cli_runner()
    assert runner.invoke(args=["keys", "revoke", "student"]).exit_code == 0
    assert client.get("/sentiment").status_code == 401
    with client.session_transaction() as session:
        assert SESSION_KEY not in session
    enter_key(client, closed.config["keys"]["admin"])
    home = client.get("/").get_data(as_text=True)
    assert client.post("/key/forget", data={"csrf_token": csrf_of(home)}).status_code == 303
    assert client.get("/sentiment").status_code == 401


def test_next_never_leaves_the_site(closed):
    client = closed.test_client()
    entered = enter_key(client, closed.config["keys"]["client"], next_path="/sentiment")
    assert entered.headers["Location"] == "/sentiment"
    asked = client.get("/").get_data(as_text=True)
    away = client.post("/key", data={"key": closed.config["keys"]["client"], "next": "//evil.example/x",
                                     "csrf_token": csrf_of(asked)})
    assert away.headers["Location"] == "/"


def test_a_valid_key_counts_on_open_routes_and_pages(app):
    with app.app_context():
        key = create_key("student", "client")
    client = app.test_client()
    for path in ("/api/v1/health", "/api/openapi.json", "/sentiment"):
        assert client.get(path, headers={"X-API-Key": key}).status_code == 200
    extensions.key_usage(app).flush()
    listing = app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert re.search(r"student\s.*\s3\s+active", listing), listing
    assert client.get("/api/v1/health", headers={"X-API-Key": "mlapi_000000000000_guess"}).status_code == 401


def test_the_copied_curl_never_follows_a_forged_host(make_app):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    page = client.get("/sentiment", headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    html = page.get_data(as_text=True)
    assert "evil.example" not in html and "http://localhost/api/v1/sentiment" in html
    public = make_app(PUBLIC_URL="https://mlapi.example.org/").test_client().get("/sentiment")
    assert "https://mlapi.example.org/api/v1/sentiment" in public.get_data(as_text=True)

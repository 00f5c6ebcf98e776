"""Forty students behind one classroom address (issue 26): pages have their own generous window, a page's
images cost nothing, the API budget is untouched, and a page's 429 says how long to wait and keeps the input."""
import re

from mlapi.config import Config

CLASSROOM_NAT = {"REMOTE_ADDR": "10.0.0.1"}


def test_forty_students_behind_one_address_open_pages_and_submit_twice_without_a_429(make_app):
    app = make_app(RATELIMIT_ANONYMOUS=Config.RATELIMIT_ANONYMOUS, RATELIMIT_PAGES=Config.RATELIMIT_PAGES,
                   RATELIMIT_ANONYMOUS_ITEMS=Config.RATELIMIT_ANONYMOUS_ITEMS)
    statuses = []
    for student in range(40):
        browser = app.test_client()
        statuses.append(browser.get("/xray", environ_base=CLASSROOM_NAT).status_code)
        statuses += [browser.get(f"/xray/examples/{n}.png", environ_base=CLASSROOM_NAT).status_code for n in range(12)]
        statuses.append(browser.get("/sentiment", environ_base=CLASSROOM_NAT).status_code)
        for attempt in range(2):
            sent = browser.post("/sentiment", data={"text": f"Student {student} liked the crew ({attempt})"},
                                environ_base=CLASSROOM_NAT)
            statuses.append(sent.status_code)
    assert statuses.count(429) == 0 and set(statuses) == {200}
    api = app.test_client().post("/api/v1/sentiment", json={"text": "ok"}, environ_base=CLASSROOM_NAT)
    assert api.status_code == 200 and api.headers["X-RateLimit-Remaining"] == str(59)  # pages spent none of it


def test_a_page_s_images_are_free_and_pages_do_not_spend_the_api_window(make_app):
    client = make_app(RATELIMIT_PAGES="2/minute", RATELIMIT_ANONYMOUS="1/minute").test_client()
    assert client.get("/xray").status_code == 200
    assert all(client.get(f"/xray/examples/{n}.png").status_code == 200 for n in range(12))
    assert client.post("/api/v1/sentiment", json={"text": "ok"}).status_code == 200
    assert client.post("/api/v1/sentiment", json={"text": "ok"}).status_code == 429  # its own window is spent
    assert client.get("/sentiment").status_code == 200  # the page window is apart


def test_a_page_s_429_says_how_long_to_wait_and_keeps_the_typed_text(make_app):
    client = make_app(RATELIMIT_PAGES="1/minute").test_client()
    assert client.get("/sentiment").status_code == 200
    refused = client.post("/sentiment", data={"text": "O voo atrasou & ninguém avisou"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
    seconds = int(re.search(r"Wait <strong>(\d+) seconds</strong>", page).group(1))
    assert 1 <= seconds <= 60 and "Retry-After" not in page
    assert 'name="text" value="O voo atrasou &amp; ninguém avisou"' in page and "Send again" in page


def test_a_page_s_429_on_a_plain_visit_reloads_by_itself(make_app):
    client = make_app(RATELIMIT_PAGES="1/minute").test_client()
    client.get("/")
    refused = client.get("/fraud")
    assert refused.status_code == 429 and '<meta http-equiv="refresh"' in refused.get_data(as_text=True)


def test_the_api_s_429_stays_problem_details(make_app):
    client = make_app(RATELIMIT_ANONYMOUS="1/minute").test_client()
    client.post("/api/v1/sentiment", json={"text": "ok"})
    refused = client.post("/api/v1/sentiment", json={"text": "ok"})
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"


def test_a_429_page_never_shows_a_key_typed_into_a_form(make_app):
    client = make_app(RATELIMIT_PAGES="1/minute").test_client()
    client.get("/")
    page = client.post("/models", data={"key": "mlapi_abc_secret", "name": "sentiment", "action": "activate",
                                        "version": "v1"}).get_data(as_text=True)
    shown = page.split("<details>")[1]
    assert "mlapi_abc_secret" not in shown and "<strong>version</strong>" in shown

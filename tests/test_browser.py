"""Every page in headless Chromium on a real server: its ready examples submitted, nothing from another host.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright; no browser is downloaded.
A screenshot of each page goes to ``var/screenshots/`` (git-ignored) for people to look at.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from mlapi import create_app
from mlapi.access.keys import create_key
from mlapi.catalog import USE_CASES
from tests.conftest import CHROMIUM, app_settings, release
from tests.servers import ROOT

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
SCREENSHOTS = ROOT / "var" / "screenshots"


@dataclass
class Server:
    url: str
    admin_key: str


@pytest.fixture(scope="module")
def server(trained_dir, tmp_path_factory) -> Iterator[Server]:
    """The app on its own copy of the tiny trained models, served by werkzeug in a thread."""
    folder = tmp_path_factory.mktemp("browser")
    settings = app_settings(folder, Path(shutil.copytree(trained_dir, folder / "artifacts")))
    app = create_app({**settings, "LOG_FLUSH_SECONDS": 0.2})  # the prediction log written as when serving
    with app.app_context():
        admin_key = create_key("browser-admin", "admin")
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{http.server_port}", admin_key)
    http.shutdown()
    thread.join()
    release(app)


@pytest.fixture
def page(browser, server):
    """A fresh tab that records every request it makes and every error it logs."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1200, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    tab.requested, tab.problems = [], []
    tab.on("request", lambda request: tab.requested.append(request.url))
    tab.on("console", lambda message: message.type == "error" and tab.problems.append(message.text))
    tab.on("pageerror", lambda error: tab.problems.append(str(error)))
    yield tab
    context.close()


# Each page: how to exercise it (submit each ready example and check what it shows).


def home(tab, server) -> None:
    rows = tab.locator("table.use-cases tbody tr")
    assert rows.count() == len(USE_CASES)
    assert "not trained" not in rows.all_inner_texts()


def submit_each(tab, buttons: str, result: str, check: Callable[[str], bool]) -> None:
    """Click each of the ``buttons`` (one page load each) and check the ``result`` it shows."""
    count = tab.locator(buttons).count()
    assert count > 0
    for number in range(count):
        tab.locator(buttons).nth(number).click()
        tab.wait_for_load_state()
        shown = tab.locator(result).inner_text()
        assert check(shown), shown


def sentiment(tab, server) -> None:
    submit_each(tab, "section.examples button", ".result .label",
                lambda label: label in {"positive", "neutral", "negative"})


def recommend(tab, server) -> None:
    submit_each(tab, "section.examples button", ".result", lambda shown: "score" in shown)


def xray(tab, server) -> None:
    submit_each(tab, "form.gallery button", ".result h2", lambda shown: shown.startswith("Chest X-ray"))


def demand(tab, server) -> None:
    for value in tab.locator("#series option").evaluate_all("options => options.map(o => o.value)"):
        tab.select_option("#series", value)
        tab.click("form.predict button[type=submit]")
        tab.wait_for_load_state()
        assert tab.locator(".result table tbody tr").count() == int(tab.input_value("#horizon"))
        assert tab.locator(".result svg").count() == 1


def fraud(tab, server) -> None:
    for number in range(tab.locator("input[name=example]").count()):
        tab.locator("input[name=example]").nth(number).check()
        tab.fill("#Amount", "")
        tab.fill("#Time", "")
        tab.click("form.predict button[type=submit]")
        tab.wait_for_load_state()
        assert "% fraud" in tab.locator(".result h2").inner_text()


def models(tab, server) -> None:
    form = tab.locator("section#sentiment form.admin")
    form.locator("input[name=key]").fill(server.admin_key)
    form.locator("button[value=activate]").click()
    tab.wait_for_load_state()
    assert "v1 is now active" in tab.locator("[role=status]").inner_text()


def monitor(tab, server) -> None:
    """The panel follows live traffic: predictions made elsewhere show up without a reload."""
    shown = tab.locator("#monitor-sentiment dl.figures dd").first
    before = int(shown.inner_text())
    for _ in range(3):
        response = tab.request.post("/api/v1/sentiment", data=json.dumps({"text": "Lovely crew"}),
                                    headers={"Content-Type": "application/json"})
        assert response.ok
    for _ in range(40):  # the script swaps the panel in every 5 seconds
        if shown.inner_text() == str(before + 3):
            return
        tab.wait_for_timeout(500)
    assert shown.inner_text() == str(before + 3)


def api_docs(tab, server) -> None:
    """Swagger UI lists every operation and calls one for real with "Try it out"."""
    document = tab.request.get("/api/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    tab.wait_for_selector(".opblock")
    assert tab.locator(".opblock").count() == operations
    sentiment_post = tab.locator("#operations-sentiment-sentiment_predict_json")
    sentiment_post.locator(".opblock-summary").click()
    sentiment_post.get_by_role("button", name="Try it out").click()
    sentiment_post.get_by_role("button", name="Execute").click()
    status = sentiment_post.locator(".live-responses-table .response .response-col_status").first
    assert status.inner_text().strip() == "200"


@dataclass(frozen=True)
class Page:
    path: str
    exercise: Callable
    curl: bool = True  # it shows a curl block to copy and run


PAGES = [
    Page("/", home),
    Page("/sentiment", sentiment),
    Page("/recommend", recommend),
    Page("/xray", xray),
    Page("/demand", demand),
    Page("/fraud", fraud),
    Page("/models", models),
    Page("/monitor", monitor),
    Page("/docs", api_docs),
    Page("/api/docs", api_docs),
]


@pytest.mark.parametrize("shown", PAGES, ids=[entry.path for entry in PAGES])
def test_page_in_a_real_browser(page, server, shown, tmp_path):
    response = page.goto(shown.path)
    assert response.ok
    shown.exercise(page, server)
    if shown.curl:
        check_curl_block(page, server, tmp_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{shown.path.strip('/').replace('/', '-') or 'home'}.png", full_page=True)
    host = urlsplit(server.url).netloc
    outside = [url for url in page.requested if urlsplit(url).scheme not in ("data", "blob")
               and urlsplit(url).netloc != host]
    assert not outside, f"requests to other hosts: {outside}"
    assert not page.problems, page.problems


def check_curl_block(tab, server, folder: Path) -> None:
    """The copy button copies the block, and the copied commands get JSON from the API (with a key where they
    send one: the admin endpoints)."""
    block = tab.locator("pre[data-copy]").last
    text = block.locator("code").inner_text()
    tab.locator("button.copy").last.click()
    assert tab.evaluate("navigator.clipboard.readText()") == text
    run = subprocess.run(["bash", "-c", text], capture_output=True, text=True, cwd=folder, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "MLAPI_KEY": server.admin_key})
    assert run.returncode == 0, run.stderr
    answers = json_values(run.stdout)
    problems = [answer for answer in answers if {"status", "detail"} <= set(answer)]
    assert answers and not problems, run.stdout[:500]


def json_values(text: str) -> list[dict]:
    """The JSON values printed one after another (the X-ray block runs two commands)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
        at += len(text[at:]) - len(text[at:].lstrip())
    return values


def test_the_models_leaderboard_and_publish_form_fit_a_phone(browser, server):
    """/models at 390 px: each use case's leaderboard and the publish forms show, a wide table scrolls in its
    own box, and the page itself is no wider than the phone."""
    context = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 844})
    try:
        tab = context.new_page()
        problems = []
        tab.on("pageerror", lambda error: problems.append(str(error)))
        assert tab.goto("/models").ok
        board = tab.locator("section#sentiment table.leaderboard")
        assert board.is_visible() and board.locator("tbody tr").count() >= 1
        assert board.locator("thead th.headline").inner_text() == "accuracy"
        assert board.locator("tbody tr.active").count() == 1
        assert tab.locator("form.publish").count() == 3  # sentiment, xray, fraud; not recommend, demand
        form = tab.locator("section#sentiment form.publish")
        for field in ("input[name=key]", "input[name=model]", "input[name=note]", "button[type=submit]"):
            shown = form.locator(field)
            assert shown.is_visible(), field
            box = shown.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (field, box)
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        fraud = tab.locator("section#fraud div.scroll")  # many metrics: wider than the phone, scrolled inside
        assert fraud.evaluate("box => box.scrollWidth > box.clientWidth && box.clientWidth <= 390")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=SCREENSHOTS / "models-390.png", full_page=True)
        assert not problems, problems
    finally:
        context.close()


LANGUAGE_PAGES = ["/", "/sentiment", "/recommend", "/xray", "/demand", "/fraud", "/models", "/monitor"]
VIEWPORTS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]


def test_a_browser_in_portuguese_gets_portuguese_pages_and_the_switch_brings_english(browser, server):
    """Chromium set to pt-BR gets every page in Portuguese; the header's "English" link switches to English and
    the choice stays. No page is wider than a laptop or a phone in either language. A screenshot of each page in
    each language and size goes to var/screenshots/ (home-pt-BR-390.png...)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in VIEWPORTS:
        context = browser.new_context(base_url=server.url, locale="pt-BR", viewport=viewport)
        try:
            tab = context.new_page()
            assert tab.goto("/").ok
            assert tab.locator("html").get_attribute("lang") == "pt-BR"
            assert tab.locator("h1").inner_text() == "Modelos treinados, prontos para usar"
            assert tab.locator("nav.languages a[aria-current]").inner_text() == "Português"
            assert tab.goto("/sentiment").ok and tab.locator("h1").inner_text() == "Análise de sentimento"
            shoot_each_page(tab, "pt-BR", viewport)
            tab.goto("/sentiment")
            tab.locator("nav.languages a", has_text="English").click()
            tab.wait_for_load_state()
            assert urlsplit(tab.url).path == "/sentiment" and tab.locator("h1").inner_text() == "Sentiment analysis"
            assert tab.locator("html").get_attribute("lang") == "en"
            assert tab.goto("/").ok and tab.locator("h1").inner_text() == "Trained models, ready to use"  # it stays
            shoot_each_page(tab, "en", viewport)
        finally:
            context.close()


@pytest.mark.parametrize("locale", ["pt-BR", "en-US"])
def test_the_monitor_shows_its_five_panels_on_a_projector(browser, server, locale):
    """At 1280x800 each use case's panel shows its name, figures and chart without scrolling."""
    context = browser.new_context(base_url=server.url, locale=locale, viewport={"width": 1280, "height": 800})
    try:
        tab = context.new_page()
        assert tab.goto("/monitor").ok
        panels = tab.locator("section.monitor")
        assert panels.count() == 5
        for index in range(5):
            chart = panels.nth(index).locator("svg.per-minute").bounding_box()
            assert chart["y"] + chart["height"] <= 800, (locale, index, chart)
    finally:
        context.close()


def shoot_each_page(tab, language: str, viewport: dict) -> None:
    """Each page in ``language``: no wider than the window, and its screenshot."""
    for path in LANGUAGE_PAGES:
        assert tab.goto(path).ok
        assert tab.locator("html").get_attribute("lang") == language
        assert tab.evaluate("document.documentElement.scrollWidth") <= viewport["width"], (path, language)
        name = path.strip("/") or "home"
        tab.screenshot(path=SCREENSHOTS / f"{name}-{language}-{viewport['width']}.png", full_page=True)

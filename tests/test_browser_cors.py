"""examples/web-client.html in Chromium, served from a second origin, calling the API of a real gunicorn server.

The page is served by ``python -m http.server`` on another port of 127.0.0.1, so the browser applies CORS
to its calls. With its origin in MLAPI_CORS_ORIGINS, a keyed call gets the answer and the page reads
X-RateLimit-Remaining and X-Request-ID; with only ``*``, the browser refuses to send the key (and lets an
anonymous call through); without it, the browser blocks the call.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mlapi import create_app
from mlapi.access.keys import create_key
from tests.conftest import CHROMIUM, app_settings, release
from tests.servers import ROOT, free_port, gunicorn, reachable, request

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
EXAMPLES = ROOT / "examples"
LABELS = {"positive", "neutral", "negative"}
SETTLED = "['answered', 'refused', 'blocked'].includes(document.getElementById('answer').dataset.state)"


@dataclass
class Setup:
    settings: dict[str, str]  # the servers' MLAPI_* settings, but CORS_ORIGINS
    key: str  # a client key


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """examples/ served by a plain static file server: the second origin."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(EXAMPLES)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not reachable("127.0.0.1", port):
            assert server.poll() is None and time.monotonic() < deadline, "python -m http.server did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def setup(trained_dir, tmp_path_factory) -> Setup:
    """The tiny trained models, a database holding a client key, and the settings that serve them."""
    folder = tmp_path_factory.mktemp("browser_cors")
    artifacts = Path(shutil.copytree(trained_dir, folder / "artifacts"))
    app = create_app(app_settings(folder, artifacts))
    with app.app_context():
        key = create_key("web-client", "client")
    release(app)
    settings = {"ARTIFACTS_DIR": str(artifacts), "DATABASE_URL": f"sqlite:///{folder / 'mlapi.db'}",
                "RATELIMIT_STORAGE": f"mlapi+lmdb:///{folder / 'ratelimits'}?map_mb=1", "LOG_LEVEL": "WARNING"}
    return Setup(settings, key)


@pytest.fixture
def page(browser):
    """A fresh tab that records the hosts it asks and what its console says."""
    context = browser.new_context()
    tab = context.new_page()
    tab.hosts, tab.console = set(), []
    tab.on("request", lambda made: tab.hosts.add(urlsplit(made.url).netloc))
    tab.on("console", lambda message: tab.console.append(f"{message.type}: {message.text}"))
    tab.on("pageerror", lambda error: tab.console.append(f"pageerror: {error}"))
    yield tab
    context.close()


def serving(setup: Setup, cors_origins: str):
    """A gunicorn server of the app with ``MLAPI_CORS_ORIGINS=cors_origins``."""
    return gunicorn({**setup.settings, "CORS_ORIGINS": cors_origins}, workers=1)


def ask(tab, site: str, api: str, key: str) -> dict[str, str]:
    """Open the example page, fill in the API address and the key, send, and read what the page shows."""
    if not tab.url.startswith(site):
        assert tab.goto(f"{site}/web-client.html").ok
    tab.fill("#api", api)
    tab.fill("#key", key)
    tab.click("#send")
    tab.wait_for_function(SETTLED, timeout=20_000)
    shown = {name: tab.inner_text(f"#{name}") for name in ("status", "label", "remaining", "request-id", "message")}
    shown["state"] = tab.get_attribute("#answer", "data-state")
    return shown


def test_an_allowed_origin_calls_with_a_key_and_reads_the_rate_limit_headers(page, site, setup):
    with serving(setup, f"https://app.example.org {site}") as port:
        api = f"http://127.0.0.1:{port}"
        first = ask(page, site, api, setup.key)
        assert first["state"] == "answered", first
        assert first["status"].startswith("200") and first["label"] in LABELS
        assert first["remaining"].isdigit(), first  # exposed by Access-Control-Expose-Headers
        assert len(first["request-id"]) >= 16
        second = ask(page, site, api, setup.key)
        assert second["state"] == "answered"
        assert int(second["remaining"]) == int(first["remaining"]) - 1  # counted against the key, once each
        assert second["request-id"] != first["request-id"]
        assert '"model"' in page.inner_text("#json")
    assert page.hosts == {urlsplit(site).netloc, f"127.0.0.1:{port}"}
    assert not [line for line in page.console if line.startswith(("error", "pageerror"))], page.console


def test_an_origin_not_allowed_is_blocked_by_the_browser(page, site, setup):
    with serving(setup, "https://app.example.org") as port:
        assert request(port, "GET", "/api/v1/health")[0] == 200  # the server answers: the browser is what blocks
        shown = ask(page, site, f"http://127.0.0.1:{port}", setup.key)
    assert shown["state"] == "blocked", shown
    assert shown["message"].startswith("Blocked") and "MLAPI_CORS_ORIGINS" in shown["message"]
    assert shown["label"] == shown["remaining"] == shown["status"] == ""
    assert any("CORS policy" in line for line in page.console), page.console


def test_a_star_admits_the_page_without_a_key_but_never_with_one(page, site, setup):
    with serving(setup, "*") as port:
        api = f"http://127.0.0.1:{port}"
        keyed = ask(page, site, api, setup.key)
        anonymous = ask(page, site, api, "")
    assert keyed["state"] == "blocked", keyed
    assert "by name" in keyed["message"]
    assert any("CORS policy" in line and "authorization" in line.lower() for line in page.console), page.console
    assert anonymous["state"] == "answered", anonymous
    assert anonymous["label"] in LABELS and anonymous["remaining"].isdigit()

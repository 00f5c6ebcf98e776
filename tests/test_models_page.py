"""The /models page: versions side by side, and the CSRF-protected admin form."""
import html
import re

import pytest

from mlapi.access.keys import create_key
from mlapi.serving.registry import registry
from tests.conftest import SAMPLE


@pytest.fixture
def two_versions(app):
    result = app.test_cli_runner().invoke(args=["train", "sentiment", "--sample", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        return {"admin": create_key("teacher", "admin"), "client": create_key("student", "client")}


def form_token(client) -> str:
    page = client.get("/models").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def submit(client, key, action="activate", version="v2", token=None):
    data = {"csrf_token": token if token is not None else form_token(client), "name": "sentiment",
            "key": key, "version": version, "action": action}
    return client.post("/models", data=data)


def test_page_lists_every_version_with_metrics(client, two_versions):
    page = html.unescape(client.get("/models").get_data(as_text=True))
    sentiment = page[page.index('id="sentiment"'):page.index('id="recommend"')]
    assert "v1 <strong>(active)</strong>" in sentiment and "<td>v2</td>" in sentiment
    assert "accuracy" in sentiment and "macro f1" in sentiment
    assert "CC BY-NC-SA 4.0" in sentiment
    assert not re.search(r"""(src|href)=["'](https?:)?//""", page)


def test_admin_activates_and_rolls_back_from_the_page(app, client, two_versions):
    response = submit(client, two_versions["admin"])
    assert response.status_code == 200 and "sentiment: v2 is now active" in response.get_data(as_text=True)
    with app.app_context():
        assert registry.active_version("sentiment") == "v2"
    sentiment = client.get("/models").get_data(as_text=True).split('id="sentiment"')[1].split('id="recommend"')[0]
    assert "Roll back to v1</button>" in sentiment  # the button names the version it will serve
    rolled = submit(client, two_versions["admin"], action="rollback").get_data(as_text=True)
    assert "v1 is now active (rolled back from v2)" in rolled
    assert "Roll back to" not in rolled.split('id="sentiment"')[1].split('id="recommend"')[0]  # nothing earlier


@pytest.mark.parametrize("who, status", [("client", 403), ("nobody", 401)])
def test_only_an_admin_key_switches(app, client, two_versions, who, status):
    key = two_versions.get(who, "mlapi_000000000000_nothing")
    assert submit(client, key).status_code == status
    with app.app_context():
        assert registry.active_version("sentiment") == "v1"


def test_the_form_needs_its_csrf_token(app, client, two_versions):
    form_token(client)  # the session now holds a token, but the request does not carry it
    response = submit(client, two_versions["admin"], token="forged")
    assert response.status_code == 400 and "reload it" in response.get_data(as_text=True)
    with app.app_context():
        assert registry.active_version("sentiment") == "v1"


def test_a_refused_version_changes_nothing(app, client, two_versions):
    response = submit(client, two_versions["admin"], version="v9")
    assert response.status_code == 422 and "nothing changed" in response.get_data(as_text=True)

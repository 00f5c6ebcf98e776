"""MlapiFlask: mlapi's request and JSON classes, and Flask's coroutine check made once per function."""
import flask.app
import pytest

from mlapi import MlapiFlask
from mlapi.request_path import MlapiRequest
from mlapi.server.json_provider import OrjsonProvider


def test_the_app_uses_mlapis_request_and_json(app):
    assert isinstance(app, MlapiFlask)
    assert app.request_class is MlapiRequest
    assert isinstance(app.json, OrjsonProvider)


def test_each_function_is_checked_once(monkeypatch):
    app = MlapiFlask(__name__)
    checked = []

    def counting(func):
        checked.append(func)
        return False

    monkeypatch.setattr(flask.app, "iscoroutinefunction", counting)

    def hook():
        return None

    assert app.ensure_sync(hook) is hook
    assert app.ensure_sync(hook) is hook
    assert checked == [hook]


def test_a_coroutine_function_still_goes_to_flask():
    app = MlapiFlask(__name__)

    async def view():
        return None

    with pytest.raises(RuntimeError, match="async"):  # Flask's own answer without its async extra
        app.ensure_sync(view)
    with pytest.raises(RuntimeError, match="async"):  # not remembered as if it were a plain function
        app.ensure_sync(view)

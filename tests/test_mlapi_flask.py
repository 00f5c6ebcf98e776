"""MlapiFlask: mlapi's request and JSON classes, and Flask's coroutine check made once per function."""
import flask.app
import pytest
from flask import request

from mlapi import request_path
from mlapi.access import cors
from mlapi.app import MlapiFlask
from mlapi.observability import prediction_log
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


def test_the_hooks_run_in_the_order_request_path_lists(make_app):
    app = make_app(CORS_ORIGINS="http://localhost:5173")
    assert app.before_request_funcs[None] == list(request_path.BEFORE)
    assert app.after_request_funcs[None][::-1] == list(request_path.AFTER)  # Flask runs them last added first
    quiet = make_app(MONITORING_ENABLED=False)  # and no CORS_ORIGINS, the default
    left = quiet.after_request_funcs[None]
    assert prediction_log.record not in left and cors.add_cors_headers not in left and len(left) == 4


def test_a_request_carries_its_state_from_hook_to_hook(app):
    seen = {}

    @app.after_request
    def look(response):
        seen["state"] = request.state
        return response

    app.test_client().post("/api/v1/sentiment", json={"text": "Lovely crew"}, headers={"X-Request-ID": "abc-1"})
    state = seen["state"]
    assert state.request_id == "abc-1" and state.caller.role == "anonymous" and state.window_counted
    assert state.predicting == "sentiment" and state.model["name"] == "sentiment" and len(state.results) == 1

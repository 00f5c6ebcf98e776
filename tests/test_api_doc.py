"""docs/api.md against the app: the document and the code cannot drift apart silently.

Every operation of the served OpenAPI document has its heading in docs/api.md and every heading is an
operation; every route and example URL the file names exists with its method; every status the API can
answer is explained in its error table; the prediction limits and defaults it states are the code's.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from mlapi.api.schemas import MAX_USAGE_MINUTES
from mlapi.catalog import USE_CASES
from mlapi.config import Config
from mlapi.errors import DETAILS, MlapiError
from mlapi.serving.payloads import SingleOrBatch
from mlapi.storage.outages import RETRY_AFTER_SECONDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
METHODS = "GET|POST|PUT|PATCH|DELETE"
HEADING = re.compile(rf"^#{{2,4}} ({METHODS}) (/\S+)\s*$", re.MULTILINE)
NAMED = re.compile(rf"\b({METHODS}) (/[\w./{{}}-]*)")  # "GET /api/v1/models/{name}" anywhere in the text
CURL = re.compile(r"^\$ curl .*$", re.MULTILINE)
RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")  # werkzeug's <int:number> -> OpenAPI's {number}
GUNICORN_STATUSES = {414, 431}  # written by mlapi.server.gunicorn_worker before the app sees the request

USE_CASES_BY_NAME = {use_case.name: use_case for use_case in USE_CASES}


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line), up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, start)
    return text[start:following.start() if following else len(text)]


def table_rows(block: str) -> list[list[str]]:
    """The cells of each row of the Markdown tables in ``block``, header and rule lines left out."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in block.splitlines() if line.startswith("|")]
    return [row for row in rows if not set(row[0]) <= {"-", " "} and row[0] not in ("status", "endpoint", "field")]


def operations_of(openapi: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in openapi["paths"].items() for method in item}


def routes_of(app) -> set[tuple[str, str]]:
    """Every (method, path) the app routes, paths written as OpenAPI writes them."""
    return {(method, RULE_ARGUMENT.sub(r"{\1}", rule.rule))
            for rule in app.url_map.iter_rules() for method in rule.methods or ()}


def curl_call(line: str) -> tuple[str, str]:
    """The method and path a ``$ curl ...`` example line calls (curl's default: POST with a body, else GET)."""
    path = re.search(r"\$BASE(/[^\s\"'?]*)", line)
    assert path, f"no $BASE URL in: {line}"
    explicit = re.search(r"-X (\w+)", line)
    method = explicit.group(1) if explicit else "POST" if re.search(r" -[dF] ", line) else "GET"
    return method, path.group(1)


def test_every_openapi_operation_has_a_heading_and_every_heading_is_one(openapi, text):
    documented = set(HEADING.findall(text))
    served = operations_of(openapi)
    assert served, "the served OpenAPI document has no operations"
    missing = sorted(served - documented)
    assert not missing, f"operations served but without a heading in docs/api.md: {missing}"
    extra = sorted(documented - served)
    assert not extra, f"headings in docs/api.md that the OpenAPI document does not list: {extra}"


def test_every_route_the_document_names_exists(app, text):
    named = {(method, path.rstrip(".")) for method, path in NAMED.findall(text)
             if path.startswith("/api/") or path == "/metrics"}
    assert ("POST", "/api/v1/sentiment") in named  # the pattern finds what it is meant to
    unknown = sorted(named - routes_of(app))
    assert not unknown, f"docs/api.md names routes the app does not have: {unknown}"


def test_every_example_url_routes_to_its_endpoint(app, text):
    calls = [curl_call(line) for line in CURL.findall(text)]
    assert len(calls) >= 15, f"expected the document's curl examples, found {len(calls)}"
    adapter = app.url_map.bind("localhost")
    for method, path in calls:
        try:
            adapter.match(path, method=method)
        except (NotFound, MethodNotAllowed) as error:
            raise AssertionError(f"docs/api.md example {method} {path}: {error.code} from the app") from None


def every_subclass(cls: type) -> list[type]:
    return [sub for child in cls.__subclasses__() for sub in (child, *every_subclass(child))]


def test_every_status_the_api_answers_is_explained(openapi, text):
    rows = table_rows(section(text, "## Errors"))
    explained = {int(row[0]): row[1] for row in rows if row[0].isdigit()}
    assert all(len(explanation) > 10 for explanation in explained.values()), explained
    listed = {int(status) for item in openapi["paths"].values() for operation in item.values()
              for status in operation["responses"] if not status.startswith("2")}
    raised = {error.status for error in every_subclass(MlapiError)}
    answered = listed | raised | set(DETAILS) | GUNICORN_STATUSES
    unexplained = sorted(answered - set(explained))
    assert not unexplained, f"statuses the API answers that docs/api.md's error table does not explain: {unexplained}"
    prediction_statuses = {int(status) for name in USE_CASES_BY_NAME
                           for status in openapi["paths"][f"/api/v1/{name}"]["post"]["responses"] if status != "200"}
    assert prediction_statuses <= set(explained)


def test_each_prediction_section_shows_the_model_that_answered(text):
    for name in USE_CASES_BY_NAME:
        block = section(text, f"### POST /api/v1/{name}")
        assert f'"model":{{"name":"{name}","version":"v' in block, f"no recorded answer of {name} in docs/api.md"
        assert CURL.search(block), f"no example request for POST /api/v1/{name}"


def size_text(size: int) -> str:
    return f"{size // 2**20} MiB" if size % 2**20 == 0 else f"{size // 2**10} KiB"


def batch_limit(openapi: dict, schema_name: str, field: str) -> int:
    return openapi["components"]["schemas"][schema_name]["properties"][field]["maxItems"]


def test_the_prediction_limits_table_is_the_code(app, openapi, text):
    rows = {row[0]: row for row in table_rows(section(text, "## Predictions")) if row[0].startswith("`POST ")}
    assert set(rows) == {f"`POST /api/v1/{name}`" for name in USE_CASES_BY_NAME}
    for name, use_case in USE_CASES_BY_NAME.items():
        _, single, batch, most, cap = rows[f"`POST /api/v1/{name}`"]
        schema = use_case.request_schema
        fields = set(schema().fields)
        assert set(re.findall(r"`(\w+)`", single)) <= fields, f"{name}: {single} names fields the body does not take"
        if issubclass(schema, SingleOrBatch):
            assert f"`{schema.single}`" in single and batch == f"`{schema.batch}`", name
            assert int(most) == batch_limit(openapi, schema.__name__, schema.batch), name
        else:
            assert batch == "none" and most == "-", name
        assert cap == size_text(min(use_case.max_body_bytes, app.config["MAX_BODY_BYTES"])), name


def test_the_documented_defaults_are_the_code_defaults(text):
    assert f"default `{Config.RATELIMIT_CLIENT}`" in text
    assert f"default `{Config.RATELIMIT_ANONYMOUS}`" in text
    assert f"`Retry-After: {RETRY_AFTER_SECONDS}`" in text
    assert f"last {Config.KEY_GRACE_SECONDS:g} s" in text
    assert f"default {size_text(Config.MAX_BODY_BYTES)}" in text
    assert f"1 to {MAX_USAGE_MINUTES:,}" in text

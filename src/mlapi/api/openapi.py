"""The OpenAPI 3.1 document, built from the routes Flask knows and the marshmallow schemas that validate them.

A use case's prediction endpoint, ``POST /api/v1/<name>``, is described from its ``UseCase``
(request and response schemas, examples, the batch form, an upload field), so a new use case is
documented with nothing to add. Every other route under /api says what it takes and returns
with :func:`documented`; one with neither is left out of the document, and a test fails.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields
from werkzeug.routing import Rule

from mlapi.access.keys import PUBLIC_ENDPOINTS
from mlapi.access.rate_limits import UNLIMITED_ENDPOINTS
from mlapi.serving.payloads import ModelRef, Problem, SingleOrBatch, TryVersion
from mlapi.serving.registry import registry
from mlapi.usecase import UseCase

JSON = "application/json"
BODY_ERRORS = (400, 413, 415, 422)  # not JSON, too large, not declared as JSON, breaks the schema
KEY_ANONYMOUS, KEY_BEARER, KEY_HEADER = {}, {"bearer": []}, {"apiKey": []}
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed in the current one-minute window (per key, or per IP without one).",
    "X-RateLimit-Remaining": "Requests left in the current window.",
    "X-RateLimit-Reset": "When the current window ends, in epoch seconds.",
    "X-RateLimit-Nearest": "The window with the smaller share left: 'requests' or 'items'.",
}
ITEM_LIMIT_HEADERS = {
    "X-RateLimit-Items-Limit": "Items (a batch of N is N) allowed in the current item window.",
    "X-RateLimit-Items-Remaining": "Items left in the current item window.",
    "X-RateLimit-Items-Reset": "When the current item window ends, in epoch seconds.",
}
DESCRIPTION = """Trained machine-learning models behind one JSON API. Every prediction says which model
version made it (`model`).

**Keys.** Send a key as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Without one you are the
anonymous tier (when the server allows it): predictions and reads, limited per IP. A key that is unknown
or revoked is a 401, never anonymous. Admin endpoints answer 401 without a key and 403 to a client key.

**Rate limits.** Per key, or per IP without one, in two dimensions: requests (one counter across all
routes) and items (a prediction of N items costs N, charged once its body passed validation). A refused key
counts against its IP. Every response but those of `/api/v1/health` and `/metrics` carries `X-RateLimit-Limit`,
`X-RateLimit-Remaining`, `X-RateLimit-Reset` and `X-RateLimit-Nearest`; a prediction also carries
`X-RateLimit-Items-Limit`, `-Remaining` and `-Reset`. A 429 carries `Retry-After`; a batch larger than the whole
item limit is a 422 that says how to split it.

**Errors** are `application/problem+json` (RFC 9457) with a `detail` a person can act on, and `errors`
per field on a 422. An unknown route under `/api/` is a 404 and a method a route does not take is a 405
(with `Allow`), both as problem details. Every response carries `X-Request-ID`."""


@dataclass(frozen=True)
class Operation:
    """What a route under /api takes and returns, for the document."""

    summary: str
    response: type[Schema] | None = None  # the JSON body of the 200
    body: type[Schema] | None = None
    example: dict[str, Any] | None = None  # a valid body
    query: type[Schema] | None = None
    errors: tuple[int, ...] = ()  # besides those its access, body and query imply
    model_name: bool = False  # its path has <name>, one of the models
    media_type: str = JSON
    degraded: bool = False  # its 503 is the same body as its 200, not a problem
    items: bool = False  # a prediction: it charges items too
    upload: type[Schema] | None = None  # a multipart form body (file fields are Raw with format binary)
    status: int = 200  # of success


def documented(summary: str, response: type[Schema] | None = None, **details: Any) -> Callable:
    """Describe a view under /api for the OpenAPI document (see :class:`Operation`)."""

    def mark(view: Callable) -> Callable:
        view.operation = Operation(summary, response, **details)
        return view

    return mark


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route under /api that is described."""
    spec = APISpec("mlapi", "1", "3.1.0", plugins=[MarshmallowPlugin()], info={"description": DESCRIPTION},
                   security=[KEY_ANONYMOUS, KEY_BEARER, KEY_HEADER],
                   tags=[{"name": name, "description": use_case.description}
                         for name, use_case in registry.use_cases.items()])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "description": "An mlapi key."})
    spec.components.security_scheme("apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.schema("Problem", schema=Problem)
    spec.components.header("X-Request-ID", header("The client's own id if it sent a plain one, else a new one.",
                                                  "string"))
    for name, description in (RATE_LIMIT_HEADERS | ITEM_LIMIT_HEADERS).items():
        spec.components.header(name, header(description, "string" if name == "X-RateLimit-Nearest" else "integer"))
    spec.components.header("Retry-After", header("Seconds until the limit resets.", "integer"))
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith("/api/") or hasattr(view, "operation"):  # and /metrics, also in API.md
            add_rule(spec, rule, view)
    return spec.to_dict()


def header(description: str, kind: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


def add_rule(spec: APISpec, rule: Rule, view: Callable) -> None:
    """Add each method of ``rule`` that is described."""
    for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
        use_case = registry.use_cases.get(rule.endpoint.rpartition(".")[0])
        if use_case and method == "POST" and rule.rule == f"/api/v1/{use_case.name}":
            described = prediction(use_case)
        elif hasattr(view, "operation"):
            described = view.operation
        else:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        spec.path(path, operations={method.lower(): operation(described, rule, view, use_case)})


def prediction(use_case: UseCase) -> Operation:
    """The prediction endpoint of ``use_case``, described from the use case alone."""
    title = use_case.name.title()
    model = fields.Nested(ModelRef, required=True)
    responses: tuple[type[Schema], ...] = (type(f"{title}Response", (use_case.response_schema,), {"model": model}),)
    if issubclass(use_case.request_schema, SingleOrBatch):
        results = fields.List(fields.Nested(use_case.response_schema), required=True)
        responses += (Schema.from_dict({"results": results, "model": model}, name=f"{title}BatchResponse"),)
    return Operation(use_case.title, responses, body=use_case.request_schema, example=model_example(use_case),
                     query=TryVersion, errors=(403, 404, 503), items=True)


def model_example(use_case: UseCase) -> dict[str, Any]:
    """The serving version's example body (from its card), else the use case's own."""
    loaded = registry.loaded.get(use_case.name)
    return loaded.card.get("example", use_case.example) if loaded else use_case.example


def body_examples(schema: type[Schema], example: dict[str, Any]) -> dict[str, Any]:
    """The example as one item and, for a batch schema, as a batch of two (listed in that order)."""
    examples = {"one": {"summary": "One item", "value": example}}
    if issubclass(schema, SingleOrBatch) and schema.single in example:
        batch = [example[schema.single]] * 2
        examples["two"] = {"summary": "A batch of two, answered in order", "value": {schema.batch: batch}}
    return examples


def operation(described: Operation, rule: Rule, view: Callable, use_case: UseCase | None) -> dict[str, Any]:
    """The OpenAPI operation object of one method of ``rule``."""
    public = rule.endpoint in PUBLIC_ENDPOINTS or not rule.rule.startswith("/api/")  # keys are for /api/ only
    limited = rule.endpoint not in UNLIMITED_ENDPOINTS
    admin = getattr(view, "required_role", None) == "admin"
    keyed = getattr(view, "required_role", None) in ("admin", "client")  # set on a view: no anonymous caller
    statuses = {500, *described.errors} if rule.rule.startswith("/api/") else set(described.errors)  # else HTML
    statuses |= set() if public else {401}
    statuses |= {429} if limited else set()
    statuses |= {403} if admin else set()
    statuses |= set(BODY_ERRORS) if described.body or described.upload else set()
    statuses |= {422} if described.query else set()
    statuses |= {404} if described.model_name else set()
    statuses |= {503} if described.degraded else set()
    docstring = (use_case.description if use_case and described.body is use_case.request_schema
                 else inspect.getdoc(view) or "")
    found: dict[str, Any] = {
        "summary": described.summary,
        "description": docstring,
        "operationId": rule.endpoint.replace(".", "_"),
        "tags": [rule.endpoint.rpartition(".")[0]],
        "responses": {str(described.status): success(described, limited)},
    }
    for status in sorted(statuses):
        own_body = status == 503 and described.degraded
        found["responses"][str(status)] = failure(status, limited, described.response if own_body else None)
    if public:
        found["security"] = []
    elif keyed:
        found["security"] = [KEY_BEARER, KEY_HEADER]
    parameters = []
    if described.model_name:
        names = list(registry.use_cases)
        parameters.append({"name": "name", "in": "path", "required": True, "example": names[0],
                           "schema": {"type": "string", "enum": names}, "description": "A model's name."})
    for argument in sorted(rule.arguments - ({"name"} if described.model_name else set())):
        parameters.append({"name": argument, "in": "path", "required": True, "schema": {"type": "string"},
                           "example": "v1" if argument == "version" else None})
    if described.query:
        parameters.append({"in": "query", "schema": described.query})
    if parameters:
        found["parameters"] = parameters
    if described.body:
        found["requestBody"] = request_body(described, use_case)
    elif described.upload:
        found["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": described.upload}}}
    return found


def request_body(described: Operation, use_case: UseCase | None) -> dict[str, Any]:
    """The JSON body, with its examples, and the multipart upload a use case also takes."""
    content: dict[str, Any] = {JSON: {"schema": described.body}}
    if described.example is not None:
        content[JSON]["examples"] = body_examples(described.body, described.example)
    if use_case and use_case.upload_field and described.body is use_case.request_schema:
        field = use_case.upload_field
        content["multipart/form-data"] = {
            "schema": {"type": "object", "required": [field],
                       "properties": {field: {"type": "string", "format": "binary",
                                              "description": "The file itself (PNG or JPEG)."}}},
            "encoding": {field: {"contentType": "image/png, image/jpeg"}},
        }
    return {"required": True, "content": content}


def headers(status: int, limited: bool, items: bool = False) -> dict[str, Any]:
    """The headers of a response: the request id, and the limits wherever the limiter counts."""
    found = {"X-Request-ID": ref("X-Request-ID")}
    if limited:
        found |= {name: ref(name) for name in RATE_LIMIT_HEADERS}
        if items:
            found |= {name: ref(name) for name in ITEM_LIMIT_HEADERS}
    if status == 429:
        found["Retry-After"] = ref("Retry-After")
    return found


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def success(described: Operation, limited: bool) -> dict[str, Any]:
    """The 200 response: its JSON schema (one of several for a batch endpoint), or another media type."""
    response = described.response
    if response is None:
        schema: Any = {"type": "object"} if described.media_type == JSON else {"type": "string"}
    elif isinstance(response, tuple):
        schema = {"oneOf": list(response)} if len(response) > 1 else response[0]
    else:
        schema = response
    content = {described.media_type: {"schema": schema}}
    phrase = HTTPStatus(described.status).phrase
    return {"description": phrase, "headers": headers(described.status, limited, described.items), "content": content}


def failure(status: int, limited: bool, own_body: Any = None) -> dict[str, Any]:
    """An error response: problem details, or ``own_body`` (health reports its 503 in its own body)."""
    content = {JSON: {"schema": own_body}} if own_body else {"application/problem+json": {"schema": Problem}}
    return {"description": HTTPStatus(status).phrase, "headers": headers(status, limited), "content": content}

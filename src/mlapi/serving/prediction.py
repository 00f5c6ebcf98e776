"""The one prediction flow that every JSON endpoint and every HTML page goes through.

    payload -> request_schema.load -> registry.get(name) -> use_case.predict -> response dict

:func:`endpoint` is the view of ``POST /api/v1/<name>`` that every use case's blueprint gets.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import cache
from typing import Any

from flask import Response, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.exceptions import BadRequest

from mlapi.access.keys import Forbidden, Unauthorized
from mlapi.access.rate_limits import charge_items
from mlapi.errors import InvalidJson, ModelUnavailable, NotFound, ValidationFailed, WrongContentType
from mlapi.server.http_guards import read_body
from mlapi.serving.payloads import SingleOrBatch
from mlapi.serving.registry import VERSION, ArtifactRefused, Loaded, Registry, registry
from mlapi.usecase import UseCase
from mlapi.words import N_

SHOWN_FIELDS = 5


def json_payload() -> Any:
    """The request's JSON body.

    :raises WrongContentType: the body is not declared as JSON (415).
    :raises InvalidJson: the body does not parse (400).
    :raises RequestEntityTooLarge: a chunked body runs past the cap (413).
    """
    req = request._get_current_object()  # one proxy lookup for both uses
    if not req.is_json:
        upload = req.use_case.upload_field if req.use_case else None
        raise WrongContentType(N_("Send the body as JSON with 'Content-Type: application/json', or the file itself as "
                                  "multipart form data: curl -F {upload}=@chest.png ...").format(upload=upload)
                               if upload else N_("Send the body as JSON with 'Content-Type: application/json'."))
    read_body(req)  # outside the try: a body cut short by a timeout is not invalid JSON (408, mlapi.errors)
    try:
        return req.get_json()
    except BadRequest:
        raise InvalidJson(N_("The request body is not valid JSON; check quotes, commas and brackets.")) from None
    except RecursionError:
        raise InvalidJson(N_("The request body is nested too deeply to read.")) from None


def validation_detail(errors: dict[str, Any]) -> str:
    """One sentence naming the fields to fix, nested ones by their path (``transaction.Amount``, ``texts.3``)."""
    named = field_paths(errors)
    if not named:
        return N_("The request body does not have the expected shape; see 'errors'.")
    shown = ", ".join(named[:SHOWN_FIELDS])
    if len(named) > SHOWN_FIELDS:
        return N_("Fix these fields and send again: {fields} and {more} more.").format(
            fields=shown, more=len(named) - SHOWN_FIELDS)
    return N_("Fix these fields and send again: {fields}.").format(fields=shown)


def field_paths(errors: dict[Any, Any], prefix: str = "") -> list[str]:
    """The dotted paths of the fields that have messages."""
    paths = []
    for field, messages in errors.items():
        path = prefix if field == "_schema" else f"{prefix}{field}"
        if isinstance(messages, dict):
            paths += field_paths(messages, f"{path}.")
        elif path:
            paths.append(path.rstrip("."))
    return paths


def load(schema: Schema, data: Any) -> Any:
    """``data`` loaded by ``schema``.

    :raises ValidationFailed: it breaks the schema (422), with the messages per field.
    """
    if too_long := overlong_lists(schema, data):
        raise ValidationFailed(validation_detail(too_long), too_long)
    try:
        return schema.load(data)
    except ValidationError as error:
        messages = name_the_accepted_fields(error.normalized_messages(), schema)
        raise ValidationFailed(validation_detail(messages), messages) from None


def overlong_lists(schema: Schema, data: Any) -> dict[str, list[str]]:
    """The top-level lists of ``data`` longer than their field allows, with its message: refused before their
    items are validated one by one (a million items would take seconds, and answer a message for each)."""
    found = {}
    if isinstance(data, dict):
        for name, field in schema.fields.items():
            value = data.get(field.data_key or name)
            if isinstance(field, fields.List) and isinstance(value, list):
                for check in field.validators:
                    if isinstance(check, validate.Length) and check.max is not None and len(value) > check.max:
                        try:
                            check(value)  # raises, with the field's own message
                        except ValidationError as error:
                            found[name] = error.messages
    return found


def name_the_accepted_fields(messages: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """``messages`` with the first SHOWN_FIELDS top-level unknown fields told the closest accepted field, or all
    of them (a body of thousands of unknown fields gets no more work than the sentence names)."""
    accepted = [name for name, field in schema.fields.items() if not field.dump_only]
    named, hinted = {}, 0
    for field, said in messages.items():
        if said == ["Unknown field."] and accepted and hinted < SHOWN_FIELDS:
            hinted += 1
            close = difflib.get_close_matches(str(field), accepted, n=1)
            said = [N_("Unknown field; did you mean '{field}'?").format(field=close[0]) if close else
                    N_("Unknown field; this endpoint takes {fields}.").format(
                        fields=", ".join(f"'{name}'" for name in accepted))]
        named[field] = said
    return named


@cache
def schema_instance(schema: type[Schema]) -> Schema:
    """One instance per request schema, reused: building a marshmallow schema costs more than loading a body."""
    return schema()


def predict(name: str, payload: Any) -> dict[str, Any]:
    """Validate ``payload`` for use case ``name``, predict with its serving version.

    A single item answers ``{...result, "model"}``; a batch ``{"results": [...], "model"}``.

    :raises ValidationFailed: the payload breaks the schema, the model's own check, or is a batch larger than the
        caller's whole item limit (422).
    :raises ItemsExhausted: its items do not fit in what is left of the caller's item window (429).
    :raises ModelUnavailable: no version of the model can serve (503).
    """
    models, state = registry._get_current_object(), request._get_current_object().state  # one proxy lookup each
    use_case = models.use_cases[name]
    state.predicting = name
    schema = schema_instance(use_case.request_schema)
    request_data = (schema.load_plain(payload) if isinstance(schema, SingleOrBatch) else None) or load(schema, payload)
    loaded = models.get(name) if not request.query_string else chosen_version(models, name)
    if use_case.check:
        use_case.check(loaded.model, request_data["items"])
    charge_items(len(request_data["items"]), getattr(schema, "batch", None) or "_schema")
    results = use_case.predict(loaded.model, request_data["items"])
    model = {"name": name, "version": loaded.version}
    state.model, state.results = model, results
    if request_data["batch"]:
        return {"results": results, "model": model}
    return {**results[0], "model": model}


def chosen_version(models: Registry, name: str) -> Loaded:
    """The version ``?version=vN`` asks for (else the serving one): an admin may try any, a key the ones it
    published, before they are active.

    :raises ValidationFailed: the version is not written like 'v2' (422).
    :raises NotFound: there is no such version (404).
    :raises Unauthorized: no key (401). :raises Forbidden: another key's version (403).
    """
    version = request.args.get("version")
    if version is None:
        return models.get(name)
    if not VERSION.fullmatch(version):
        raise ValidationFailed(N_("Versions look like 'v2'."), {"version": [N_("Versions look like 'v2'.")]})
    serving = models.get(name)
    if version == serving.version:
        return serving
    if version not in models.versions(name):
        raise NotFound(N_("{name} has no version {version}; GET /api/v1/models/{name} lists them.").format(
            name=name, version=version))
    caller = request.state.caller
    if caller.role == "anonymous":
        raise Unauthorized(N_("Trying {name} {version}, which is not active, needs a key: an admin's or the one "
                              "that published it.").format(name=name, version=version))
    if caller.role != "admin" and models.card(name, version).get("publisher") != caller.name:
        raise Forbidden(N_("{name} {version} is not active: only an admin or the key that published it may try "
                           "it.").format(name=name, version=version))
    try:
        return models.trial(name, version)
    except ArtifactRefused as refused:
        raise ModelUnavailable(N_("Cannot be tried now: {reason}.").format(reason=refused)) from None


def uploaded_payload(field: str) -> dict[str, bytes]:
    """A multipart upload as a payload for the use case's schema: the file's raw bytes under ``field``.

    :raises ValidationFailed: no file in the field (422).
    """
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise ValidationFailed(N_("Attach the file in a multipart field named '{field}'.").format(field=field),
                               {field: [N_("No file sent.")]})
    return {field: upload.read()}


def endpoint(use_case: UseCase) -> Callable[[], Response]:
    """The view of ``POST /api/v1/<name>``: a JSON body (one item or a batch), or a multipart file where the
    use case names an ``upload_field``."""
    name, field = use_case.name, use_case.upload_field

    def predict_json() -> Response:
        if field and request.mimetype == "multipart/form-data":
            return jsonify(predict(name, uploaded_payload(field)))
        return jsonify(predict(name, json_payload()))

    predict_json.__doc__ = f"{use_case.title}: one item or a batch, answered in order."
    return predict_json

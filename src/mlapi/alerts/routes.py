"""The alerts under /api/v1 (admin): the rules, to list, add and remove, and the alerts they fired."""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, ValidationError, fields

from mlapi.access.keys import admin_only
from mlapi.alerts.evaluator import recent_alerts, remove_and_resolve
from mlapi.alerts.rules import RuleRefused, add, all_rules, make_rule
from mlapi.alerts.signals import known
from mlapi.api.openapi import documented
from mlapi.errors import NotFound, ValidationFailed
from mlapi.observability.prediction_log import utc_now
from mlapi.serving.prediction import json_payload, load
from mlapi.storage.outages import REQUEST_DEADLINE_SECONDS, deadline
from mlapi.words import N_

bp = Blueprint("alerts", __name__, url_prefix="/api/v1/alerts")

class RuleExists(ValidationFailed):
    """A rule of that name exists already."""

    status = 409



class Duration(fields.Field):
    """``30s``, ``10m``, ``1h``, ``1d``, or a whole number of minutes (a JSON number too)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError(N_("A duration is a whole number with s, m, h or d after it, e.g. 30s, 10m or 1h."))
        return str(value)


class RuleRequest(Schema):
    name = fields.String(required=True, metadata={"example": "complaint-wave"})
    use_case = fields.String(load_default=None, allow_none=True,
                             metadata={"example": "sentiment", "description": "A use case, or null (or 'all')."})
    condition = fields.String(required=True, metadata={
        "example": "share(negative) > 0.4", "description": "SIGNAL OP NUMBER (docs/alerts.md lists the signals)."})
    window = Duration(load_default="10m", metadata={
        "example": "10m", "description": "30s, 10m, 1h, 1d, or a number of minutes.", "type": ["string", "integer"]})
    min_count = fields.Integer(strict=True, load_default=20, metadata={
        "example": 50, "description": "Judged only once the window holds this many items, requests or feedback."})
    cooldown = Duration(load_default="30m", metadata={
        "example": "30m", "description": "Least time between two firings.", "type": ["string", "integer"]})


class Rule(Schema):
    name = fields.String(required=True)
    use_case = fields.String(required=True, allow_none=True)
    condition = fields.String(required=True)
    window_seconds = fields.Integer(required=True)
    min_count = fields.Integer(required=True)
    cooldown_seconds = fields.Integer(required=True)


class Rules(Schema):
    rules = fields.List(fields.Nested(Rule), required=True)


class Alert(Schema):
    id = fields.Integer(required=True)
    rule = fields.String(required=True)
    use_case = fields.String(required=True)
    condition = fields.String(required=True)
    value = fields.Float(required=True, metadata={"description": "The value that crossed."})
    fired_at = fields.String(required=True, metadata={"format": "date-time"})
    resolved_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    resolved_value = fields.Float(required=True, allow_none=True)
    firing = fields.Boolean(required=True)


class Alerts(Schema):
    alerts = fields.List(fields.Nested(Alert), required=True, metadata={"description": "The last 20, newest first."})


@bp.get("")
@documented("The last 20 alerts (admin)", Alerts, errors=(503,))
@admin_only
def alerts():
    """The last 20 alerts, newest first; ``firing`` while unresolved."""
    with deadline(REQUEST_DEADLINE_SECONDS):
        return jsonify(alerts=[event.as_dict() for event in recent_alerts()])


@bp.get("/rules")
@documented("The alert rules (admin)", Rules, errors=(503,))
@admin_only
def rules():
    with deadline(REQUEST_DEADLINE_SECONDS):
        return jsonify(rules=[rule.as_dict() for rule in all_rules()])


@bp.post("/rules")
@documented("Add an alert rule (admin)", Rule, body=RuleRequest, status=201, errors=(409, 503),
            example={"name": "complaint-wave", "use_case": "sentiment", "condition": "share(negative) > 0.4",
                     "window": "10m", "min_count": 50, "cooldown": "30m"})
@admin_only
def add_rule():
    """Add a rule; it is checked from the next round on."""
    asked = load(RuleRequest(), json_payload())
    try:
        rule = make_rule(**asked, known=known(), now=utc_now())
    except RuleRefused as refused:
        raise ValidationFailed(str(refused), {refused.field: [str(refused)]}) from None
    with deadline(REQUEST_DEADLINE_SECONDS):
        if not add(rule):
            raise RuleExists(N_("A rule named '{name}' exists already; remove it first.").format(name=rule.name))
    response = jsonify(rule.as_dict())
    response.status_code = 201
    return response


@bp.delete("/rules/<name>")
@documented("Remove an alert rule (admin)", Rule, errors=(503,))
@admin_only
def remove_rule(name: str):
    """Remove a rule; its open alerts are resolved (and sent so), its past ones stay."""
    with deadline(REQUEST_DEADLINE_SECONDS):
        removed = remove_and_resolve(name)
    if removed is None:
        raise NotFound(N_("There is no alert rule named '{name}'.").format(name=name))
    return jsonify(removed)

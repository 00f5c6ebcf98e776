"""Request and response schemas of /api/v1/health, /api/v1/models and /api/v1/usage."""
from marshmallow import Schema, fields, validate


class Health(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ok", "degraded")))
    models = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True,
                         metadata={"description": "The version each model serves (null: none)."})
    database = fields.String(required=True, validate=validate.OneOf(("up", "down")),
                             metadata={"description": "Whether this worker reaches the database now."})
    limit_storage = fields.String(required=True, validate=validate.OneOf(("up", "down", "off")),
                                  metadata={"description": "Whether the rate-limit storage answers (off: no limits)."})
    problems = fields.List(fields.String(), metadata={"description": "Why the service is degraded."})


class ModelSummary(Schema):
    name = fields.String(required=True, metadata={"example": "sentiment"})
    title = fields.String(required=True)
    active_version = fields.String(required=True, allow_none=True, metadata={"example": "v1"})
    versions = fields.List(fields.String(), required=True, metadata={"example": ["v1", "v2"]})


class ModelList(Schema):
    models = fields.List(fields.Nested(ModelSummary), required=True)


class Dataset(Schema):
    name = fields.String(required=True)
    rows = fields.Integer(required=True)
    license = fields.String(required=True)
    source = fields.String(required=True)


class VersionCard(Schema):
    version = fields.String(required=True, metadata={"example": "v1"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    sha256 = fields.String(required=True, metadata={"description": "Of model.skops, checked before it loads."})
    metrics = fields.Dict(required=True, metadata={"description": "Held-out results."})
    dataset = fields.Nested(Dataset, required=True)
    params = fields.Dict(required=True)


class ModelCard(Schema):
    """What a model does, every version's metrics, and how to call it."""

    name = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    active_version = fields.String(required=True, allow_none=True)
    versions = fields.List(fields.Nested(VersionCard), required=True)
    input_schema = fields.Dict(required=True, allow_none=True, metadata={"description": "JSON Schema of the body."})
    example = fields.Dict(required=True, metadata={"description": "A valid body for the predict endpoint."})


class ActivateRequest(Schema):
    version = fields.String(required=True, validate=validate.Regexp(r"^v\d+$", error="Versions look like 'v2'."),
                            metadata={"example": "v1"})


MAX_USAGE_MINUTES = 7 * 24 * 60


class UsageQuery(Schema):
    minutes = fields.Integer(load_default=60, validate=validate.Range(min=1, max=MAX_USAGE_MINUTES),
                             metadata={"description": "The window: the last 1 to 10,080 minutes (a week)."})


class KeyUsage(Schema):
    key = fields.String(required=True, allow_none=True, metadata={"description": "The key's name; null: anonymous."})
    requests = fields.Integer(required=True, metadata={"description": "Prediction requests, answered or refused."})
    errors = fields.Integer(required=True, metadata={"description": "Answered 4xx or 5xx, other than 429."})
    rate_limited = fields.Integer(required=True, metadata={"description": "Refused with 429."})
    items = fields.Integer(required=True, metadata={"description": "Items predicted (a batch counts each)."})
    use_cases = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                            metadata={"description": "Requests per use case."})


class Usage(Schema):
    window_minutes = fields.Integer(required=True)
    keys = fields.List(fields.Nested(KeyUsage), required=True, metadata={"description": "Busiest key first."})

"""Request and response schemas of /api/v1/health, /api/v1/models and /api/v1/usage."""
from marshmallow import Schema, fields, validate

from mlapi.publishing.publish import MAX_NOTE
from mlapi.words import N_


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
    metrics = fields.Dict(required=True, metadata={"description": "Held-out results, measured by the server."})
    dataset = fields.Nested(Dataset, required=True)
    params = fields.Dict(required=True)
    source = fields.String(required=True, validate=validate.OneOf(("trained", "published")),
                           metadata={"description": "trained: by mlapi's own code; published: uploaded."})
    publisher = fields.String(required=True, allow_none=True,
                              metadata={"description": "The name of the key that published it (null: trained, or "
                                                       "from the command line)."})
    note = fields.String(required=True, allow_none=True, metadata={"description": "The publisher's note."})
    size_bytes = fields.Integer(required=True, allow_none=True, metadata={"description": "Of the model file."})
    latency_ms = fields.Dict(required=True, allow_none=True, metadata={
        "description": "p50 and p95 of one example prediction through the serving path, measured at publishing."})
    explanation_method = fields.String(required=True, allow_none=True,
                                       metadata={"description": "How its answers explain (see the use case)."})
    libraries = fields.Dict(required=True, allow_none=True, metadata={
        "description": "made_with: the skops and scikit-learn versions in the file; served_with: this server's."})


class PublishedCard(VersionCard):
    name = fields.String(required=True, metadata={"example": "sentiment"})


class PublishForm(Schema):
    """A skops file and an optional note, as multipart form data."""

    model = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                                "description": "The model, saved with skops.io.dump."})
    note = fields.String(validate=validate.Length(max=MAX_NOTE),
                         metadata={"description": "What it is, in a line (at most 500 characters)."})


class Publishing(Schema):
    accepted = fields.Boolean(required=True, metadata={"description": "Whether this use case takes published models."})
    contract = fields.String(required=True, allow_none=True, metadata={"description": "What the model must be."})
    example_script = fields.String(required=True, allow_none=True,
                                   metadata={"description": "A script that trains, saves and publishes one."})
    max_bytes = fields.Integer(required=True)
    max_latency_ms = fields.Float(required=True)


class ModelCard(Schema):
    """What a model does, every version's metrics, and how to call it."""

    name = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    active_version = fields.String(required=True, allow_none=True)
    versions = fields.List(fields.Nested(VersionCard), required=True)
    input_schema = fields.Dict(required=True, allow_none=True, metadata={"description": "JSON Schema of the body."})
    example = fields.Dict(required=True, metadata={"description": "A valid body for the predict endpoint."})
    headline_metric = fields.String(required=True, metadata={"description": "What /models ranks versions by."})
    publish = fields.Nested(Publishing, required=True,
                            metadata={"description": "How to publish a model of your own (docs/publishing.md)."})


class ActivateRequest(Schema):
    version = fields.String(required=True, validate=validate.Regexp(r"^v\d+$", error=N_("Versions look like 'v2'.")),
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

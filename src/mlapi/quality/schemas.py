"""Request and response schemas of ``POST /api/v1/feedback`` and ``GET /api/v1/models/<name>/quality``."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from mlapi.demand.schemas import MAX_HORIZON
from mlapi.observability.access_log import CLIENT_ID
from mlapi.quality.truths import TRUTH_FIELDS, is_sales
from mlapi.words import N_

MAX_FEEDBACK_ITEMS = 1000
MAX_MOVIE_ID = 10**9  # IMDb numbers have 7 or 8 digits
REQUEST_ID = validate.Regexp(rf"(?:{CLIENT_ID.pattern})\Z", error=N_(  # what X-Request-ID can be: never anything else
    "A request id is 1 to 128 letters, digits, '.', '_', ':' or '-': the X-Request-ID of a prediction's answer."))
MAX_QUALITY_MINUTES = 525_600  # a year
WEEK_MINUTES = 10_080


class StrictBoolean(fields.Boolean):
    """A JSON true or false, nothing that merely looks like one ("yes", 1)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value


class WholeNumber(fields.Integer):
    """A JSON whole number: not a boolean, a string or a fraction."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if type(value) is not int:
            raise self.make_error("invalid")
        return value


class WeeklySales(fields.Field):
    """A number, or a list of 1 to MAX_HORIZON numbers: real weekly sales (finite; negative for net returns)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        weeks = value if isinstance(value, list) else [value]
        if not 0 < len(weeks) <= MAX_HORIZON or not all(map(is_sales, weeks)):
            raise ValidationError(N_("Give a number, or a list of 1 to {weeks} numbers.").format(weeks=MAX_HORIZON))
        return value


class FeedbackItem(Schema):
    """The true outcome of one predicted item, in the one field its use case takes."""

    request_id = fields.String(required=True, validate=REQUEST_ID, metadata={
        "description": "The X-Request-ID of the prediction's answer.", "example": "3f1c2a9b7d4e4f0a9c8b6d5e4f3a2b1c"})
    position = WholeNumber(load_default=0, validate=validate.Range(min=0), metadata={
        "description": "The item in a batch prediction, from 0 (its place in 'results'); 0 for one item."})
    label = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "sentiment: negative, neutral or positive; xray: normal or pneumonia.", "example": "negative"})
    is_fraud = StrictBoolean(metadata={"description": "fraud: whether the transaction was fraud."})
    sales = WeeklySales(metadata={
        "description": "demand: the real sales of the first forecast week, or a list for the forecast weeks in "
                       "order (as many as are known, up to the forecast's horizon).",
        "oneOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 1,
                                       "maxItems": MAX_HORIZON}]})
    movie_id = WholeNumber(validate=validate.Range(min=1, max=MAX_MOVIE_ID),
                           metadata={"description": "recommend: the movie watched."})

    @validates_schema
    def one_truth(self, data: dict, **kwargs: Any) -> None:
        if sum(name in data for name in TRUTH_FIELDS) != 1:
            raise ValidationError(one_truth_message(), "_schema")


def one_truth_message() -> str:
    return N_("Give the true outcome in exactly one of {fields} (the one the prediction's use case takes).").format(
        fields=", ".join(f"'{name}'" for name in TRUTH_FIELDS))


class FeedbackRequest(FeedbackItem):
    """One item's fields, or ``items``: a batch of them."""

    request_id = fields.String(validate=REQUEST_ID, metadata={
        "description": "The X-Request-ID of the prediction's answer (required unless 'items' is sent).",
        "example": "3f1c2a9b7d4e4f0a9c8b6d5e4f3a2b1c"})
    items = fields.List(fields.Nested(FeedbackItem), validate=validate.Length(max=MAX_FEEDBACK_ITEMS), metadata={
        "description": "A batch of up to 1,000 items, each with its own fields; stored whole or not at all."})

    @validates_schema(pass_original=True)
    def one_truth(self, data: dict, original: Any, **kwargs: Any) -> None:
        if "items" in data:
            if set(original) - {"items"}:
                raise ValidationError(N_("Send either one item's fields or 'items', not both."), "_schema")
            return
        if "request_id" not in data:
            raise ValidationError(N_("Missing data for required field."), "request_id")
        if sum(name in data for name in TRUTH_FIELDS) != 1:
            raise ValidationError(one_truth_message(), "_schema")

    @post_load
    def as_items(self, data: dict, **kwargs: Any) -> dict[str, Any]:
        if "items" in data:
            return {"items": data["items"], "batch": True}
        return {"items": [data], "batch": False}


class FeedbackStored(Schema):
    """One item's truth as stored, with what was predicted."""

    request_id = fields.String(required=True)
    position = fields.Integer(required=True)
    use_case = fields.String(required=True, metadata={"example": "sentiment"})
    version = fields.String(required=True, allow_none=True, metadata={"example": "v1"})
    predicted = fields.Raw(required=True, metadata={
        "description": "What the prediction log kept of the item: label and score (sentiment, xray), is_fraud and "
                       "score (fraud), the forecast weeks' date and sales (demand), the movie ids (recommend)."})
    truth = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "The true outcome, in its field (a demand 'sales' is always a list).",
        "example": {"label": "negative"}})
    replaced = fields.Boolean(required=True, metadata={
        "description": "Whether it replaced a truth given before for the same item."})


class FeedbackBatch(Schema):
    items = fields.List(fields.Nested(FeedbackStored), required=True, metadata={"description": "In request order."})


class QualityQuery(Schema):
    minutes = fields.Integer(load_default=WEEK_MINUTES, validate=validate.Range(min=1, max=MAX_QUALITY_MINUTES),
                             metadata={"description": "The window: predictions made in the last 1 to 525,600 "
                                                      "minutes (a year); by default a week."})


class VersionQuality(Schema):
    version = fields.String(required=True, metadata={"example": "v1"})
    count = fields.Integer(required=True, metadata={"description": "Items with feedback in the window."})
    metrics = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), required=True, metadata={
        "description": "Measured on the feedback (null: nothing to measure yet).",
        "example": {"accuracy": 0.8, "macro_f1": 0.7619}})
    confusion = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                            required=True, allow_none=True, metadata={
                                "description": "Counts per true class, then per predicted class (null for demand "
                                               "and recommend)."})
    held_out = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), required=True, metadata={
        "description": "The same figures on held-out data, from the version's card (null where it has none)."})


class Quality(Schema):
    name = fields.String(required=True, metadata={"example": "sentiment"})
    window_minutes = fields.Integer(required=True)
    versions = fields.List(fields.Nested(VersionQuality), required=True, metadata={
        "description": "Each version with feedback in the window, and the serving one, oldest first."})

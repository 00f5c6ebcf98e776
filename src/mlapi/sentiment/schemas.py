"""Request and response schemas of the sentiment API."""
from marshmallow import Schema, ValidationError, fields, validate

from mlapi.sentiment.model import CLASSES
from mlapi.serving.payloads import SingleOrBatch
from mlapi.words import N_

MAX_CHARS = 5000
MAX_BATCH = 1000


def not_blank(text: str) -> None:
    """Refuse text that is only white space."""
    if not text.strip():
        raise ValidationError(N_("Must not be blank."))


def is_plain_text(value: object) -> bool:
    """A text that ``text_field`` loads unchanged and accepts: a str of 1 to MAX_CHARS, not only white space."""
    return type(value) is str and 0 < len(value) <= MAX_CHARS and not value.isspace()


def text_field(**kwargs) -> fields.String:
    """A text of 1 to MAX_CHARS characters that is not blank (one message for an empty one)."""
    metadata = {"minLength": 1, **kwargs.pop("metadata", {})}
    return fields.String(validate=[validate.Length(max=MAX_CHARS), not_blank], metadata=metadata, **kwargs)


class SentimentRequest(SingleOrBatch):
    """One text, or a batch of texts: exactly one of the two."""

    single, batch, item = "text", "texts", "text"
    plain = staticmethod(is_plain_text)

    text = text_field(metadata={"description": "1 to 5,000 characters, not blank.", "example": "The crew was lovely!"})
    texts = fields.List(
        text_field(),
        validate=validate.Length(min=1, max=MAX_BATCH),
        metadata={"description": "A batch of 1 to 1,000 texts, answered in order."},
    )


LABELS = CLASSES


class Term(Schema):
    term = fields.String(required=True, metadata={"example": "lovely"})
    weight = fields.Float(required=True, metadata={"description": "Its push towards the label (negative: away)."})


class SentimentResult(Schema):
    """The label of one text, how sure the model is, and the words that decided it."""

    label = fields.String(required=True, validate=validate.OneOf(LABELS))
    score = fields.Float(required=True, metadata={"description": "The probability of the label."})
    probabilities = fields.Nested(Schema.from_dict({label: fields.Float(required=True) for label in LABELS},
                                                   name="SentimentProbabilities"), required=True)
    explanation = fields.List(fields.Nested(Term), required=True,
                              metadata={"description": "Up to 8 words that pushed hardest, largest first."})
    explanation_method = fields.String(
        required=True, validate=validate.OneOf(("linear", "occlusion")),
        metadata={"description": "linear: each word's exact share of the label's linear score (every trained "
                                 "version, and published linear models); occlusion: how much the label's "
                                 "probability drops without the word (other published models)."})
    looks_english = fields.Boolean(required=True, metadata={
        "description": "False when the text looks Portuguese or Spanish: the model learned from English tweets and "
                       "reviews only, so its answer means little."})

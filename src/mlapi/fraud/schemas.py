"""Request and response schemas of the fraud API: the dataset's 30 fields, every one required, numeric and finite."""
from marshmallow import Schema, ValidationError, fields, validate

from mlapi.fraud.model import FEATURES
from mlapi.serving.payloads import SingleOrBatch
from mlapi.words import N_

MAX_BATCH = 1000
LIMIT = 1e308  # about float64's largest; a longer JSON integer arrives as a Python int with no float


class Number(fields.Float):
    """A finite JSON number within float64's range: not a string, not a boolean, not a 400-digit integer."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(N_("Must be a number."))
        if not abs(value) <= LIMIT:  # NaN compares false; an int compares exactly, without converting
            raise ValidationError(N_("Must be a finite number from {low:g} to {high:g}.").format(
                low=-LIMIT, high=LIMIT))
        return float(value)


Transaction = Schema.from_dict({name: Number(required=True) for name in FEATURES}, name="Transaction")


class FraudRequest(SingleOrBatch):
    """One transaction, or a batch of 1 to 1,000: exactly one of the two."""

    single, batch, item = "transaction", "transactions", "transaction"

    transaction = fields.Nested(Transaction, metadata={"description": "Time, V1..V28 and Amount, as in the dataset."})
    transactions = fields.List(fields.Nested(Transaction), validate=validate.Length(min=1, max=MAX_BATCH),
                               metadata={"description": "A batch of 1 to 1,000 transactions, answered in order."})


class Factor(Schema):
    feature = fields.String(required=True, metadata={"example": "V14"})
    value = fields.Float(required=True, metadata={"description": "The transaction's value of the feature."})
    contribution = fields.Float(required=True, metadata={
        "description": "Fraud probability minus that with the feature at its training median (in log-odds when "
                       "explanation_method is 'linear')."})


class FraudResult(Schema):
    """The fraud probability, the decision at the threshold, the risk and the top factors."""

    fraud_probability = fields.Float(required=True)
    is_fraud = fields.Boolean(required=True)
    threshold = fields.Float(required=True)
    risk = fields.String(required=True, validate=validate.OneOf(("low", "medium", "high")))
    top_factors = fields.List(fields.Nested(Factor), required=True)
    explanation_method = fields.String(
        required=True, validate=validate.OneOf(("occlusion", "linear")),
        metadata={"description": "occlusion: each feature set alone to its training median, the probability's "
                                 "change (every trained version, and published models that are not linear); "
                                 "linear: the same in log-odds, exact for a linear published model."})

"""Request schema of the fraud API: the dataset's 30 fields, every one required, numeric and finite."""
import math

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from mlapi.fraud.model import FEATURES

MAX_BATCH = 1000


class Number(fields.Float):
    """A finite JSON number: not a string, not a boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Must be a number.")
        if not math.isfinite(value):
            raise ValidationError("Must be a finite number.")
        return float(value)


Transaction = Schema.from_dict({name: Number(required=True) for name in FEATURES}, name="Transaction")


class FraudRequest(Schema):
    """One transaction, or a batch of 1 to 1,000: exactly one of the two."""

    transaction = fields.Nested(Transaction, metadata={"description": "Time, V1..V28 and Amount, as in the dataset."})
    transactions = fields.List(fields.Nested(Transaction), validate=validate.Length(min=1, max=MAX_BATCH),
                               metadata={"description": "A batch of 1 to 1,000 transactions, answered in order."})

    @validates_schema
    def one_of_transaction_or_transactions(self, data: dict, **kwargs) -> None:
        if ("transaction" in data) == ("transactions" in data):
            raise ValidationError("Send either 'transaction' or 'transactions', not both and not neither.", "_schema")

    @post_load
    def to_items(self, data: dict, **kwargs) -> dict:
        if "transaction" in data:
            return {"items": [{"transaction": data["transaction"]}], "batch": False}
        return {"items": [{"transaction": t} for t in data["transactions"]], "batch": True}

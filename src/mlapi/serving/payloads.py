"""What every use case's schemas share: one item or a batch, the model that answered, errors."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, post_load, validates_schema


class SingleOrBatch(Schema):
    """A request with one item in ``single`` or a list of them in ``batch``: exactly one of the two.

    Loads as ``{"items": [{item: value}, ...], "batch": bool}``, what ``UseCase.predict`` takes.
    """

    single: ClassVar[str]
    batch: ClassVar[str]
    item: ClassVar[str]
    # True for a single value its field loads unchanged and accepts (a staticmethod), or None.
    plain: ClassVar[Callable[[Any], bool] | None] = None

    def load_plain(self, data: Any) -> dict | None:
        """``load``'s result for the commonest body, ``{single: value}`` with a ``plain`` value; else None.

        That body is checked in three operations instead of marshmallow's sixty calls, a cost
        that grows several times inside a request, with its code out of the caches
        (docs/performance.md). Any other
        body, every invalid one included, goes through ``load`` and its messages.
        """
        if self.plain is None or type(data) is not dict or len(data) != 1:
            return None
        value = data.get(self.single)
        return {"items": [{self.item: value}], "batch": False} if value is not None and self.plain(value) else None

    @validates_schema
    def single_or_batch(self, data: dict, **kwargs) -> None:
        if (self.single in data) == (self.batch in data):
            message = f"Send either '{self.single}' or '{self.batch}', not both and not neither."
            raise ValidationError(message, "_schema")

    @post_load
    def to_items(self, data: dict, **kwargs) -> dict:
        if self.single in data:
            return {"items": [{self.item: data[self.single]}], "batch": False}
        return {"items": [{self.item: value} for value in data[self.batch]], "batch": True}


class TryVersion(Schema):
    """The query of a prediction that asks for a version other than the serving one."""

    version = fields.String(metadata={
        "pattern": r"^v\d+$", "example": "v1",
        "description": "Answer with this version instead of the serving one: any for an admin key, the versions "
                       "it published for another key (403 otherwise, 404 if there is no such version)."})


class ModelRef(Schema):
    """Which model and version gave an answer."""

    name = fields.String(required=True, metadata={"example": "sentiment"})
    version = fields.String(required=True, metadata={"example": "v1"})


class Problem(Schema):
    """An error as RFC 9457 problem details."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Entity"})
    status = fields.Integer(required=True, metadata={"example": 422})
    code = fields.String(required=True, metadata={
        "example": "validation_failed",
        "description": "What went wrong, for programs: stable, never translated (docs/api.md lists them)."})
    detail = fields.String(required=True, metadata={"description": "One sentence a person can act on."})
    errors = fields.Dict(keys=fields.String(), metadata={"description": "The messages per field (422 only)."})

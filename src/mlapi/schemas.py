"""What every use case's request schema shares."""
from __future__ import annotations

from typing import ClassVar

from marshmallow import Schema, ValidationError, post_load, validates_schema


class SingleOrBatch(Schema):
    """A request with one item in ``single`` or a list of them in ``batch``: exactly one of the two.

    Loads as ``{"items": [{item: value}, ...], "batch": bool}``, what ``UseCase.predict`` takes.
    """

    single: ClassVar[str]
    batch: ClassVar[str]
    item: ClassVar[str]

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

"""What every use case's schemas share: one item or a batch, the model that answered, errors."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, post_load, validates_schema

from mlapi.words import N_

# marshmallow's own messages that a request can get, as marshmallow formats them: in the catalog, so a problem's
# ``errors`` reach a Portuguese reader in Portuguese too (mlapi.web.i18n.translate finds them by these templates).
MARSHMALLOW_MESSAGES = (
    N_("Unknown field."), N_("Missing data for required field."), N_("Field may not be null."),
    N_("Invalid input type."), N_("Invalid type."), N_("Invalid input."), N_("Invalid value."),
    N_("Not a valid string."), N_("Not a valid integer."), N_("Not a valid number."), N_("Not a valid boolean."),
    N_("Not a valid list."), N_("Not a valid mapping type."), N_("Not a valid date."), N_("Not a valid utf-8 string."),
    N_("Number too large."), N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Length must be between {min} and {max}."), N_("Longer than maximum length {max}."),
    N_("Shorter than minimum length {min}."), N_("Length must be {equal}."), N_("Must be one of: {choices}."),
    N_("String does not match expected pattern."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min}."), N_("Must be less than or equal to {max}."),
)


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
            message = N_("Send either '{single}' or '{batch}', not both and not neither.").format(
                single=self.single, batch=self.batch)
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

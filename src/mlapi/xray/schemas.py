"""Request and response schemas of the X-ray API: base64 images (a data: URL too) or uploaded bytes."""
from __future__ import annotations

import base64
import binascii
import re

from marshmallow import Schema, ValidationError, fields, validate

from mlapi.serving.payloads import SingleOrBatch
from mlapi.words import N_
from mlapi.xray.imaging import preprocess

MAX_BATCH = 64
DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=-]+)*;base64,", re.IGNORECASE)


class ImageField(fields.Field):
    """A PNG or JPEG as base64 text (plain or data: URL) or raw upload bytes, turned into 28x28 pixels."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, str):
            raw = decode_base64(value)
        else:
            raise ValidationError(N_("Send the image as a base64 string."))
        try:
            return preprocess(raw)
        except ValueError as error:
            raise ValidationError(str(error)) from None


def decode_base64(text: str) -> bytes:
    """The bytes of a base64 string, with or without a ``data:...;base64,`` prefix.

    :raises ValidationError: it is empty or not base64.
    """
    body = DATA_URL.sub("", text.strip(), count=1)
    body = re.sub(r"\s+", "", body)
    if not body:
        raise ValidationError(N_("The image is empty."))
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(N_("The image is not valid base64.")) from None


class XrayRequest(SingleOrBatch):
    """One image, or a batch of 1 to 64: exactly one of the two."""

    single, batch, item = "image", "images", "pixels"

    image = ImageField(metadata={"type": "string", "format": "byte",
                                 "description": "A PNG or JPEG, base64 (a data: URL is fine)."})
    images = fields.List(ImageField(metadata={"type": "string", "format": "byte"}),
                         validate=validate.Length(min=1, max=MAX_BATCH),
                         metadata={"description": "A batch of 1 to 64 images, answered in order."})


LABELS = ("normal", "pneumonia")


class XrayResult(Schema):
    """Pneumonia or normal, its probability, and a sentence for people."""

    label = fields.String(required=True, validate=validate.OneOf(LABELS))
    probability = fields.Float(required=True, metadata={"description": "The probability of the label."})
    probabilities = fields.Nested(Schema.from_dict({label: fields.Float(required=True) for label in LABELS},
                                                   name="XrayProbabilities"), required=True)
    message = fields.String(required=True, metadata={"example": "Chest X-ray compatible with pneumonia: 85%"})
    unfamiliar = fields.Boolean(required=True, allow_none=True, metadata={
        "description": "True: the image does not look like the chest X-rays the model learned from (too flat, or "
                       "its features far from theirs), and the message says so instead of a diagnosis; null: "
                       "this version has no such check (a published model)."})

"""Turn an uploaded PNG or JPEG into the 28x28 grey levels the model reads, refusing anything else.

Anyone may upload, so decoding stays within a budget:

- at most MAX_PIXELS, read from the header: 4032x3024, a 12-megapixel phone photo of a film, the
  largest thing a person sends to a model that reads 28x28;
- a JPEG's segments are walked before Pillow reads it: more than MAX_SCANS scans (each is a pass of
  the decoder over the whole image) or MAX_SEGMENTS segments (Pillow parses its header in Python)
  are refused;
- a JPEG is decoded at the smallest DCT scale (1/2, 1/4 or 1/8) that keeps DETAIL pixels on its
  short side;
- a 16-bit image is resized to 28x28 in 16 bits, and only then scaled to 8 bits.
"""
from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mlapi.words import N_

SIZE = 28
DETAIL = 8 * SIZE  # a JPEG keeps at least this many pixels on its short side
MAX_PIXELS = 4032 * 3024
# libjpeg's progressive scripts have 10 scans for colour, 6 for grey and 18 for CMYK; 32 leaves room
# for other encoders' scripts, and a scan is a pass over the whole image.
MAX_SCANS = 32
MAX_SEGMENTS = 1000  # a camera's JPEG has a few dozen; XMP or ICC data in 64 KB chunks adds about 100
FORMATS = {"PNG", "JPEG", "MPO"}  # Pillow names some camera JPEGs "MPO"
SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L"}

JPEG_SIGNATURE = b"\xff\xd8\xff"  # the start of every JPEG, as Pillow recognises them
SOS, EOI = 0xDA, 0xD9
STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}  # markers without a length: TEM, SOI, RST0-7
# The next marker: 0xFF then neither 0x00 (a 0xFF byte of entropy-coded data), RST0-7 (restart
# markers inside entropy-coded data) nor 0xFF (fill bytes before a marker). A regular expression
# searches in C, even through megabytes of 0xFF 0x00.
NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def preprocess(image_bytes: bytes) -> np.ndarray:
    """Decode, make grey, centre-crop to a square and resize to 28x28 like PneumoniaMNIST: uint8 (28, 28).

    :raises ValueError: not an image, not a PNG or JPEG, dimensions over MAX_PIXELS, a JPEG with too
        many scans or segments, or corrupt data.
    """
    square = ImageOps.fit(_decode(image_bytes), (SIZE, SIZE), method=Image.Resampling.BICUBIC)
    return _eight_bit(square)


def _decode(image_bytes: bytes) -> Image.Image:
    """The image upright and grey: 8-bit, or 16-bit as it came; a JPEG at a reduced DCT scale."""
    image = _open(image_bytes)
    try:
        image.draft("L", (DETAIL, DETAIL))  # JPEG only, before loading: grey, at least DETAIL pixels a side
        ImageOps.exif_transpose(image, in_place=True)
        return image if image.mode in {"L", *SIXTEEN_BIT_MODES} else image.convert("L")
    except (OSError, SyntaxError, ValueError):
        raise ValueError(N_("The image data is corrupt or truncated.")) from None


def _open(image_bytes: bytes) -> Image.Image:
    """The image with only its header read, after checking a JPEG's segments, the format and the dimensions."""
    if image_bytes.startswith(JPEG_SIGNATURE):
        _check_jpeg_segments(image_bytes)
    try:
        image = Image.open(io.BytesIO(image_bytes))
    except Image.DecompressionBombError:
        raise ValueError(N_("The image is too large: at most {limit:,} pixels are accepted.").format(
            limit=MAX_PIXELS)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValueError(N_("The data is not a readable image.")) from None
    if image.format not in FORMATS:
        raise ValueError(N_("Only PNG and JPEG images are accepted, not {format}.").format(format=image.format))
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(N_("The image is too large: {width}x{height}, at most {limit:,} pixels are accepted.").format(
            width=width, height=height, limit=MAX_PIXELS))
    return image


def _check_jpeg_segments(data: bytes) -> None:
    """Walk the segments of the JPEG's first image by their lengths, up to EOI, counting scans (SOS).

    A segment's content is skipped by its length, so the scans of a thumbnail inside the EXIF data
    (APP1) are not counted, nor are the other images of an MPO, which are never decoded. A scan's
    entropy-coded data runs to the next marker. The walk stops as soon as a limit is passed.

    :raises ValueError: more than MAX_SCANS scans or MAX_SEGMENTS segments.
    """
    scans, segments, position = 0, 0, 2  # after SOI
    while match := NEXT_MARKER.search(data, position):
        marker, position = data[match.end() - 1], match.end()
        if marker == EOI:
            return
        segments += 1
        if segments > MAX_SEGMENTS:
            raise ValueError(N_("The JPEG has more than {limit:,} segments, at most {limit:,} are accepted.").format(
                limit=MAX_SEGMENTS))
        if marker in STANDALONE:
            continue
        position += int.from_bytes(data[position:position + 2], "big")  # the length counts its own 2 bytes
        scans += marker == SOS
        if scans > MAX_SCANS:
            raise ValueError(N_("The JPEG has more than {limit} scans, at most {limit} are accepted: save it again as "
                                "a baseline JPEG.").format(limit=MAX_SCANS))


def _eight_bit(image: Image.Image) -> np.ndarray:
    """The grey levels as uint8; 16-bit levels are scaled down (/257, rounded), not clipped like convert("L")."""
    if image.mode in SIXTEEN_BIT_MODES:
        levels = np.asarray(image, dtype=np.float64) / 257
        return np.clip(levels.round(), 0, 255).astype(np.uint8)
    return np.asarray(image, dtype=np.uint8)

"""Turn an uploaded PNG or JPEG into the 28x28 grey levels the model reads, refusing anything else."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

SIZE = 28
MAX_PIXELS = 4096 * 4096
FORMATS = {"PNG", "JPEG", "MPO"}  # Pillow names some camera JPEGs "MPO"
SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L"}


def preprocess(image_bytes: bytes) -> np.ndarray:
    """Decode, make grey, centre-crop to a square and resize to 28x28 like PneumoniaMNIST: uint8 (28, 28).

    :raises ValueError: not an image, not a PNG or JPEG, dimensions over MAX_PIXELS, or corrupt data.
    """
    image = _open(image_bytes)
    try:
        grey = _grey(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError):
        raise ValueError("The image data is corrupt or truncated.") from None
    square = ImageOps.fit(grey, (SIZE, SIZE), method=Image.Resampling.BICUBIC)
    return np.asarray(square, dtype=np.uint8)


def _open(image_bytes: bytes) -> Image.Image:
    """The image with only its header read, after checking its format and dimensions."""
    try:
        image = Image.open(io.BytesIO(image_bytes))
    except Image.DecompressionBombError:
        raise ValueError(f"The image is too large: at most {MAX_PIXELS:,} pixels are accepted.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValueError("The data is not a readable image.") from None
    if image.format not in FORMATS:
        raise ValueError(f"Only PNG and JPEG images are accepted, not {image.format}.")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"The image is too large: {width}x{height}, at most {MAX_PIXELS:,} pixels are accepted.")
    return image


def _grey(image: Image.Image) -> Image.Image:
    """8-bit grey levels; 16-bit images are scaled down, not clipped as Pillow's convert("L") would."""
    if image.mode in SIXTEEN_BIT_MODES:
        levels = np.asarray(image, dtype=np.float64) / 257
        return Image.fromarray(np.clip(levels.round(), 0, 255).astype(np.uint8))
    return image.convert("L")

"""Upload preprocessing: decode PNG or JPEG, grey, centre crop, 28x28, and every refusal."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlapi.xray.imaging import MAX_PIXELS, preprocess

DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "xray" / "pneumoniamnist.npz"


def encode(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A few dozen bytes: a valid PNG signature and header declaring width x height, and no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_a_dataset_image_comes_back_unchanged():
    with np.load(DATA_FILE) as data:
        pixels = data["test_images"][0]
    result = preprocess(encode(Image.fromarray(pixels)))
    assert result.dtype == np.uint8 and result.shape == (28, 28)
    np.testing.assert_array_equal(result, pixels)


@pytest.mark.parametrize("size", [(28, 28), (1, 1), (640, 480), (333, 1000), (2000, 2000)])
def test_any_size_becomes_28x28(size):
    result = preprocess(encode(Image.new("L", size, 90)))
    assert result.dtype == np.uint8 and result.shape == (28, 28)
    assert np.all(result == 90)


@pytest.mark.parametrize(
    ("mode", "colour"),
    [("L", 128), ("LA", (128, 255)), ("RGB", (128, 128, 128)), ("RGBA", (128, 128, 128, 255)),
     ("I;16", 128 * 257)],
)
def test_every_mode_becomes_the_same_grey(mode, colour):
    result = preprocess(encode(Image.new(mode, (50, 40), colour)))
    assert result.dtype == np.uint8 and result.shape == (28, 28)
    assert np.all(result == 128)  # 16-bit is scaled down, not clipped to white


def test_colour_becomes_luma():
    result = preprocess(encode(Image.new("RGB", (30, 30), (255, 0, 0))))
    assert np.all(result == 76)  # 0.299 * 255


def test_palette_and_jpeg_are_read():
    palette = Image.new("L", (40, 40), 200).convert("P")
    assert np.all(preprocess(encode(palette)) == 200)
    jpeg = preprocess(encode(Image.new("RGB", (64, 64), (60, 60, 60)), "JPEG"))
    assert np.all(np.abs(jpeg.astype(int) - 60) <= 2)


@pytest.mark.parametrize("landscape", [True, False])
def test_the_centre_square_is_kept_not_squashed(landscape):
    """A 300x100 image: white on the left half of the centre square and on the far right edge."""
    pixels = np.zeros((100, 300), dtype=np.uint8)
    pixels[:, 100:150] = 255  # inside the centre square (columns 100 to 199): its left half
    pixels[:, 250:] = 255  # outside it: must be cropped away
    image = Image.fromarray(pixels if landscape else pixels.T)
    result = preprocess(encode(image)).astype(int)
    result = result if landscape else result.T
    assert np.all(result[:, :13] > 230)
    assert np.all(result[:, 15:] < 25)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a readable image"),
        (b"certainly not an image", "not a readable image"),
        (encode(Image.new("L", (30, 30)), "GIF"), "Only PNG and JPEG"),
        (encode(Image.new("RGB", (30, 30)), "BMP"), "Only PNG and JPEG"),
        (png_header_only(100_000, 100_000), "too large"),
        (png_header_only(5_000, 5_000), "too large"),
        (encode(Image.new("L", (300, 300), 7))[:-40], "corrupt or truncated"),
    ],
    ids=["empty", "garbage", "gif", "bmp", "bomb-100000", "bomb-5000", "truncated"],
)
def test_bad_images_are_refused_with_a_clear_message(data, message):
    with pytest.raises(ValueError, match=message):
        preprocess(data)


def test_the_size_cap_is_checked_before_any_pixel_is_decoded():
    header_only = png_header_only(5_000, 5_000)
    assert 5_000 * 5_000 > MAX_PIXELS and len(header_only) < 100
    with pytest.raises(ValueError, match="too large"):  # decoding first would have found no pixel data
        preprocess(header_only)

"""Upload preprocessing: decode PNG or JPEG, grey, centre crop, 28x28, and every refusal."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from mlapi.xray.imaging import DETAIL, MAX_PIXELS, MAX_SCANS, MAX_SEGMENTS, _decode, preprocess

DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "xray" / "pneumoniamnist.npz"


def encode(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def encode_with(image: Image.Image, **options) -> bytes:
    """The image as a JPEG saved with Pillow's ``options`` (progressive, exif...)."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
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


def full_resolution(data: bytes) -> np.ndarray:
    """What preprocess answered before decoding within a budget: every pixel decoded, then grey, then 28x28."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode == "I;16":
        levels = np.asarray(image, dtype=np.float64) / 257
        grey = Image.fromarray(np.clip(levels.round(), 0, 255).astype(np.uint8))
    else:
        grey = image.convert("L")
    return np.asarray(ImageOps.fit(grey, (28, 28), method=Image.Resampling.BICUBIC), dtype=np.uint8)


def xray_like(size: tuple[int, int], mode: str = "L") -> Image.Image:
    """A dataset image enlarged to ``size``; in mode I;16 with the low byte of a slow gradient added."""
    with np.load(DATA_FILE) as data:
        pixels = data["test_images"][0]
    enlarged = Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC)
    if mode != "I;16":
        return enlarged.convert(mode)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    return Image.fromarray((np.asarray(enlarged, dtype=np.uint16) * 257 + (x // 12 + y // 12) % 257).astype(np.uint16))


def with_scans(jpeg: bytes, extra: int) -> bytes:
    """The JPEG with ``extra`` copies of its last scan's header, without data, before its EOI."""
    last = jpeg.rindex(b"\xff\xda")  # entropy-coded data never holds 0xFF 0xDA: this is the last scan
    header = jpeg[last:last + 2 + int.from_bytes(jpeg[last + 2:last + 4], "big")]
    return jpeg[:-2] + header * extra + jpeg[-2:]


@pytest.mark.parametrize(("size", "decoded"), [((4000, 3000), (500, 375)), ((3000, 4000), (375, 500)),
                                               ((640, 480), (320, 240)), ((300, 200), (300, 200))])
def test_a_jpeg_is_decoded_at_the_smallest_scale_that_keeps_224_pixels_a_side(size, decoded):
    data = encode(xray_like(size, "RGB"), "JPEG")
    image = _decode(data)
    assert image.mode == "L" and image.size == decoded and min(decoded) >= min(min(size), DETAIL)
    difference = np.abs(preprocess(data).astype(int) - full_resolution(data))
    assert difference.max() <= 1


def test_sixteen_bit_is_resized_before_it_is_scaled_and_stays_within_one_level():
    rng = np.random.default_rng(0)
    for image in (Image.fromarray(rng.integers(0, 65536, (40, 50), dtype=np.uint16)), xray_like((600, 500), "I;16")):
        data = encode(image)
        assert Image.open(io.BytesIO(data)).mode == "I;16" and _decode(data).mode == "I;16"
        assert np.abs(preprocess(data).astype(int) - full_resolution(data)).max() <= 1


@pytest.mark.parametrize(
    ("image", "options", "scans"),
    [(Image.new("L", (64, 64), 90), {}, 1), (Image.new("L", (64, 64), 90), {"progressive": True}, 6),
     (Image.new("RGB", (64, 64), (90, 90, 90)), {"progressive": True}, 10),
     (Image.new("CMYK", (64, 64), (0, 0, 0, 165)), {"progressive": True}, 18),
     # noise: entropy-coded data full of 0xFF 0x00, and restart markers, between the scans
     (Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)),
      {"progressive": True, "restart_marker_blocks": 1}, 10)],
    ids=["baseline", "progressive-grey", "progressive-colour", "progressive-cmyk", "progressive-restarts"],
)
def test_baseline_and_progressive_jpegs_are_read(image, options, scans):
    data = encode_with(image, **options)
    assert data.count(b"\xff\xda") == scans
    assert np.abs(preprocess(data).astype(int) - full_resolution(data)).max() <= 1


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_jpeg_with_more_than_32_scans_is_refused(mode):
    progressive = encode_with(Image.new(mode, (64, 64), "gray"), progressive=True)
    scans = progressive.count(b"\xff\xda")
    assert preprocess(with_scans(progressive, MAX_SCANS - scans)).shape == (28, 28)
    with pytest.raises(ValueError, match=f"The JPEG has more than {MAX_SCANS} scans, at most {MAX_SCANS} are "
                                         "accepted: save it again as a baseline JPEG."):
        preprocess(with_scans(progressive, MAX_SCANS - scans + 1))


def test_the_scans_of_an_exif_thumbnail_are_not_counted_and_the_image_is_turned_upright():
    """APP1 holds the EXIF data and, after it, a thumbnail with 40 scans; it is skipped by its length."""
    thumbnail = with_scans(encode_with(Image.new("L", (64, 64), 50), progressive=True), 34)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # turn 90 degrees clockwise to show
    upright = np.zeros((400, 300), dtype=np.uint8)
    upright[:200] = 255  # the top half white
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    data = encode_with(stored.convert("RGB"), progressive=True, exif=exif.tobytes() + thumbnail)
    assert data.count(b"\xff\xda") == 10 + 40
    result = preprocess(data).astype(int)
    assert np.all(result[:13] > 230) and np.all(result[15:] < 25)


def test_a_jpeg_with_more_than_1000_segments_is_refused():
    plain = encode(Image.new("L", (64, 64), 90), "JPEG")
    comments = plain[:2] + b"\xff\xfe\x00\x02" * MAX_SEGMENTS + plain[2:]
    with pytest.raises(ValueError, match="The JPEG has more than 1,000 segments, at most 1,000 are accepted."):
        preprocess(comments)


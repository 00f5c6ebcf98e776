"""Uploads made to hold a worker: refused, or decoded within a budget. Every file is made here."""
import base64
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from mlapi.xray import imaging
from mlapi.xray.imaging import MAX_SCANS, preprocess
from tests.xray.test_imaging import encode, encode_with, full_resolution, with_scans, xray_like


def scan_bomb(size: tuple[int, int], scans: int = 100_000) -> bytes:
    """A real progressive grey JPEG with ``scans`` empty scans before its end: 10 bytes each."""
    return with_scans(encode_with(Image.new("L", size, 128), progressive=True), scans)


def sixteen_bit_png(size: tuple[int, int]) -> bytes:
    """A PNG of 16-bit grey levels, all alike: a few dozen KB even for 4096x4096."""
    return encode(Image.new("I;16", size, 30_000))


def xray(client, data: bytes):
    return client.post("/api/v1/xray", json={"image": base64.b64encode(data).decode()})


@pytest.mark.parametrize("size", [(4096, 4096), (2000, 2000)])
def test_a_jpeg_scan_bomb_is_422_naming_the_scans(client, size):
    response = xray(client, scan_bomb(size))
    assert response.status_code == 422
    assert f"more than {MAX_SCANS} scans" in response.get_json()["errors"]["image"][0]


def test_a_scan_bomb_is_refused_before_pillow_reads_it(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Pillow was asked to read a scan bomb")

    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    with pytest.raises(ValueError, match="scans"):
        preprocess(scan_bomb((2000, 2000)))


def test_a_jpeg_of_a_million_segments_is_422(client):
    """Pillow parses a JPEG's header in Python: 1.5 million empty APP1 segments took it seconds and 200 MB."""
    plain = encode(Image.new("L", (64, 64), 90), "JPEG")
    response = xray(client, plain[:2] + b"\xff\xe1\x00\x02" * 1_000_000 + plain[2:])
    assert response.status_code == 422 and "segments" in response.get_json()["errors"]["image"][0]


def test_a_4096x4096_sixteen_bit_png_is_422_too_large(client):
    response = xray(client, sixteen_bit_png((4096, 4096)))
    assert response.status_code == 422
    assert "too large: 4096x4096" in response.get_json()["errors"]["image"][0]


def test_a_3000x3000_sixteen_bit_png_is_read_as_at_full_resolution(client):
    data = encode(xray_like((3000, 3000), "I;16"))
    assert xray(client, data).status_code == 200
    assert np.abs(preprocess(data).astype(int) - full_resolution(data)).max() <= 1


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8  # Orientation: turn 90 degrees anticlockwise to show
    return encode_with(xray_like((600, 800), "RGB").transpose(Image.Transpose.ROTATE_270), exif=exif.tobytes())


def test_ordinary_jpegs_still_classify(client):
    """Large progressive and baseline photos, a grey one, and one turned by its EXIF orientation."""
    for data in (encode_with(xray_like((4000, 3000), "RGB"), progressive=True),
                 encode_with(xray_like((4000, 3000), "RGB")),
                 encode_with(xray_like((640, 480), "L"), progressive=True), exif_rotated_jpeg()):
        response = xray(client, data)
        assert response.status_code == 200 and response.get_json()["label"] in ("normal", "pneumonia")


def test_an_exif_rotated_jpeg_is_read_upright():
    upright = preprocess(encode_with(xray_like((600, 800), "RGB"))).astype(int)
    assert np.abs(preprocess(exif_rotated_jpeg()).astype(int) - upright).max() <= 2
    assert ImageOps.exif_transpose(Image.open(io.BytesIO(exif_rotated_jpeg()))).size == (600, 800)


# The peak RSS of this process image (VmHWM). Not ru_maxrss: a child started by vfork, as subprocess
# does, keeps its parent's peak in ru_maxrss through exec, and a test process is large.
PEAK_GROWTH = r"""
import importlib.util, re, sys
spec = importlib.util.spec_from_file_location("imaging", sys.argv[1])  # numpy and Pillow, not all of mlapi
imaging = importlib.util.module_from_spec(spec)
spec.loader.exec_module(imaging)
def peak():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s*(\d+) kB", status.read()).group(1)) * 1024
data = open(sys.argv[2], "rb").read()
imaging.preprocess(open(sys.argv[3], "rb").read())  # a small one first: Pillow loads its plugins
before = peak()
imaging.preprocess(data)
print(peak() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_the_largest_sixteen_bit_png_accepted_grows_a_process_by_less_than_100_mb(tmp_path):
    """4032x3024 16-bit levels are 24 MB decoded; converting them all to float64 took 330 MB more."""
    (tmp_path / "large.png").write_bytes(sixteen_bit_png((4032, 3024)))
    (tmp_path / "small.png").write_bytes(sixteen_bit_png((40, 30)))
    growth = subprocess.run([sys.executable, "-c", PEAK_GROWTH, imaging.__file__, str(tmp_path / "large.png"),
                             str(tmp_path / "small.png")], capture_output=True, text=True, check=True).stdout
    assert 20 * 2**20 < json.loads(growth) < 100 * 2**20  # the decoded levels, and little more

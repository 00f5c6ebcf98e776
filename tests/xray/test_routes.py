"""POST /api/v1/xray (base64, data URL, multipart, batch), its errors, and the /xray page."""
import base64
import html
import io
import json
import re
import struct
import zlib

import pytest
from PIL import Image

from mlapi.xray import EXAMPLE_IMAGE

PNG = base64.b64decode(EXAMPLE_IMAGE)


def xray(client, body):
    return client.post("/api/v1/xray", json=body)


def png_bytes(size=(40, 30), mode="RGB", color=(90, 90, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb() -> bytes:
    """A few hundred bytes of PNG that declare 100,000 x 100,000 pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_contract_shape_and_message(client):
    body = xray(client, {"image": EXAMPLE_IMAGE}).get_json()
    assert set(body) == {"label", "probability", "probabilities", "message", "unfamiliar", "model"}
    assert body["unfamiliar"] is False  # a test-split X-ray
    assert body["model"] == {"name": "xray", "version": "v1"}
    assert body["probability"] == body["probabilities"][body["label"]]
    assert sum(body["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    percent = round(body["probabilities"]["pneumonia"] * 100) if body["label"] == "pneumonia" else None
    if percent is not None:
        assert body["message"] == f"Chest X-ray compatible with pneumonia: {percent}%"


def test_base64_data_url_and_multipart_give_the_same_answer(client):
    plain = xray(client, {"image": EXAMPLE_IMAGE}).get_json()
    data_url = xray(client, {"image": f"data:image/png;base64,{EXAMPLE_IMAGE}"}).get_json()
    upload = client.post("/api/v1/xray", data={"image": (io.BytesIO(PNG), "chest.png")},
                         content_type="multipart/form-data").get_json()
    assert plain == data_url == upload


def test_batch_answers_in_order(client):
    other = base64.b64encode(png_bytes()).decode()
    batch = xray(client, {"images": [EXAMPLE_IMAGE, other, EXAMPLE_IMAGE]}).get_json()
    singles = [{k: v for k, v in xray(client, {"image": i}).get_json().items() if k != "model"}
               for i in (EXAMPLE_IMAGE, other, EXAMPLE_IMAGE)]
    assert batch["results"] == singles


@pytest.mark.parametrize(
    "image, message",
    [
        ("not base64 at all!", "not valid base64"),
        ("", "empty"),
        (base64.b64encode(b"just some text").decode(), "not a readable image"),
        (base64.b64encode(png_bytes()[:40]).decode(), "readable image"),
    ],
)
def test_bad_images_are_422(client, image, message):
    response = xray(client, {"image": image})
    assert response.status_code == 422 and message in response.get_json()["errors"]["image"][0]


@pytest.mark.parametrize("kind", ["GIF", "BMP"])
def test_formats_other_than_png_and_jpeg_are_422(client, kind):
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, format=kind)
    response = xray(client, {"image": base64.b64encode(buffer.getvalue()).decode()})
    assert response.status_code == 422 and "Only PNG and JPEG" in response.get_json()["errors"]["image"][0]


def test_a_decompression_bomb_is_refused_before_decoding(client):
    response = xray(client, {"image": base64.b64encode(bomb()).decode()})
    assert response.status_code == 422 and "too large" in response.get_json()["errors"]["image"][0]


@pytest.mark.parametrize("body, field", [({"images": []}, "images"), ({"images": [EXAMPLE_IMAGE] * 65}, "images"),
                                         ({"image": 5}, "image"), ({}, "_schema"),
                                         ({"image": EXAMPLE_IMAGE, "images": [EXAMPLE_IMAGE]}, "_schema")])
def test_schema_errors(client, body, field):
    response = xray(client, body)
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_multipart_without_the_file_is_422(client):
    response = client.post("/api/v1/xray", data={"other": "x"}, content_type="multipart/form-data")
    assert response.status_code == 422 and "image" in response.get_json()["errors"]


def test_body_over_the_cap_is_413(make_app):
    client = make_app(MAX_BODY_BYTES=10_000).test_client()
    assert client.post("/api/v1/xray", json={"image": "A" * 20_000}).status_code == 413


def test_example_images_are_served_with_their_labels(client):
    page = client.get("/xray").get_data(as_text=True)
    labels = re.findall(r'alt="Test X-ray \d+, (normal|pneumonia)"', page)
    assert len(labels) == 12 and labels.count("normal") == 6
    image = client.get("/xray/examples/0.png")
    assert image.mimetype == "image/png" and Image.open(io.BytesIO(image.data)).size == (28, 28)
    assert client.get("/xray/examples/12.png").status_code == 404
    assert "not a medical device" in page


def test_page_example_and_api_agree(client):
    response = client.post("/xray", data={"example": "0"})
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    sent = base64.b64encode(client.get("/xray/examples/0.png").data).decode()
    expected = xray(client, {"image": sent}).get_json()
    shown = json.loads(re.search(r"<pre class=\"code\"><code>(\{.*?)</code></pre>", page, re.S).group(1))
    assert shown == expected and expected["message"] in page
    assert 'src="data:image/png;base64,' in page


def test_page_with_an_odd_example_number_asks_for_an_image(client):
    for number in ("²", "٣", "-1", "99", "9" * 5000):
        response = client.post("/xray", data={"example": number})
        assert response.status_code == 422 and 'id="image-errors"' in response.get_data(as_text=True)


def test_page_upload_and_its_errors(client):
    upload = client.post("/xray", data={"image": (io.BytesIO(PNG), "chest.png")}, content_type="multipart/form-data")
    assert upload.status_code == 200 and "Chest X-ray" in upload.get_data(as_text=True)
    bad = client.post("/xray", data={"image": (io.BytesIO(b"nope"), "x.png")}, content_type="multipart/form-data")
    assert bad.status_code == 422 and "readable image" in bad.get_data(as_text=True)

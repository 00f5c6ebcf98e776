"""The X-ray model says when an image does not look like the X-rays it learned from, instead of a diagnosis."""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sklearn.datasets import load_sample_images

from mlapi import xray
from mlapi.serving.model_files import load_model
from mlapi.xray import model
from mlapi.xray.imaging import preprocess

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "xray"


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def document() -> np.ndarray:
    page = Image.new("L", (300, 400), 255)
    draw = ImageDraw.Draw(page)
    for line in range(20):
        draw.text((10, 10 + 18 * line), f"Exam report {line}: patient under observation", fill=0)
    return np.asarray(page)


def not_xrays() -> dict[str, list[bytes]]:
    rng = np.random.default_rng(7)
    photos = [np.asarray(Image.fromarray(image).convert("L")) for image in load_sample_images().images]
    return {
        "noise": [png(rng.integers(0, 256, (side, side), dtype=np.uint8)) for side in (28, 64, 256)],
        "blank": [png(np.full((128, 128), grey, np.uint8)) for grey in (0, 128, 200, 255)],
        "photo": [png(photo[:300, :300]) for photo in photos] + [png(photo[100:400, 200:500]) for photo in photos],
        "document": [png(document())],
    }


@pytest.fixture(scope="module")
def trained(trained_dir):
    """The session's small trained X-ray model (5% of the training images), read as the registry reads it."""
    return load_model(trained_dir / "xray" / "v1" / "model.skops", xray.use_case.model_types)


@pytest.mark.parametrize("kind", ["noise", "blank", "photo", "document"])
def test_what_is_not_an_x_ray_is_called_unfamiliar_with_no_diagnosis(trained, kind):
    results = model.predict(trained, [{"pixels": preprocess(image)} for image in not_xrays()[kind]])
    assert [result["unfamiliar"] for result in results] == [True] * len(results)
    assert all("does not look like the chest X-rays" in result["message"] for result in results)


def test_held_out_x_rays_are_familiar(trained):
    with np.load(DATA_DIR / model.DATA_FILE) as data:
        images, labels = data["test_images"], data["test_labels"].ravel()
    flags = np.array([result["unfamiliar"] for result in model.predict(trained, [{"pixels": i} for i in images])])
    assert flags.mean() < 0.03  # thresholds keep 99.5% of the validation X-rays each
    assert flags[labels == 0].mean() < 0.08 and flags[labels == 1].mean() < 0.08  # normal and pneumonia alike


def test_through_the_api_a_flat_square_is_refused_a_diagnosis(client):
    answer = client.post("/api/v1/xray", data={"image": (io.BytesIO(png(np.full((64, 64), 128, np.uint8))), "g.png")},
                         content_type="multipart/form-data").get_json()
    assert answer["unfamiliar"] is True and "no diagnosis" in answer["message"]

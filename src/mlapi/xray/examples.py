"""A dozen real test-split images, served by the app as PNGs for the page's examples."""
from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

PER_CLASS = 6
LABELS = ("normal", "pneumonia")


@cache
def examples(data_dir: Path) -> tuple[tuple[np.ndarray, str], ...]:
    """(pixels, true label) for the first PER_CLASS test images of each class."""
    with np.load(data_dir / "pneumoniamnist.npz") as data:
        images, labels = data["test_images"], data["test_labels"].ravel()
    chosen = [i for label in (0, 1) for i in np.flatnonzero(labels == label)[:PER_CLASS]]
    return tuple((images[i], LABELS[labels[i]]) for i in sorted(chosen))


def png(pixels: np.ndarray) -> bytes:
    """The pixels as a PNG file."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()

"""Published X-ray models: the contract, the metrics on the official splits, and how they serve.

A published model reads the image as the API prepares it for the trained one (grey, centre
crop, 28x28), flattened to 784 floats in [0, 1]; it predicts once per image (the trained model
also averages over 1-pixel shifts, its own choice).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlapi.publishing.estimators import check_binary, described, probability_of_one
from mlapi.usecase import Evaluation, Publishing, shares
from mlapi.words import N_
from mlapi.xray.model import DATA_FILE, DATASET, THRESHOLD, _read, _result, _scores

WIDTH = 28 * 28

CONTRACT = N_(
    "A fitted binary scikit-learn classifier with predict_proba over an N x 784 array of floats in [0, 1]: "
    "each 28x28 grey image as the API prepares it (centre crop, resize), row by row, divided by 255; "
    "classes_ 0 (normal) and 1 (pneumonia), PneumoniaMNIST's labels. It is measured on the official test "
    "split of data/xray/pneumoniamnist.npz (and its val split): train on train_images.reshape(-1, 784) / 255."
)


@dataclass
class PublishedXray:
    """A published classifier of flattened images."""

    estimator: Any

    def pneumonia_probability(self, images: np.ndarray) -> np.ndarray:
        """P(pneumonia) of uint8 images (n, 28, 28)."""
        return probability_of_one(self.estimator, flattened(images))


def flattened(images: np.ndarray) -> np.ndarray:
    """uint8 images (n, 28, 28) as the contract's (n, 784) floats in [0, 1]."""
    return images.reshape(len(images), WIDTH).astype(np.float64) / 255


def check(estimator: Any, items: list[dict]) -> None:
    """The contract: P(pneumonia) for flattened images, the example's first."""
    check_binary(estimator, WIDTH, N_("0 normal, 1 pneumonia: PneumoniaMNIST's labels"))
    PublishedXray(estimator).pneumonia_probability(np.stack([item["pixels"] for item in items]))


def evaluate(estimator: Any, data_dir: Path) -> Evaluation:
    """The trained versions' metrics on the official test and val splits."""
    splits = _read(Path(data_dir) / DATA_FILE, 1.0)
    served = PublishedXray(estimator)
    test_probability = served.pneumonia_probability(splits["test"][0])
    val = _scores(splits["val"][1], served.pneumonia_probability(splits["val"][0]))
    metrics = {**_scores(splits["test"][1], test_probability), "test_rows": len(splits["test"][1]),
               **{f"val_{name}": value for name, value in val.items()}, "threshold": THRESHOLD}
    return Evaluation(metrics=metrics, label_shares=shares(_result(float(p))["label"] for p in test_probability),
                      description=described(estimator),
                      dataset={**DATASET, "rows": sum(len(labels) for _, labels in splits.values())})


def serve(estimator: Any, serving: dict[str, Any]) -> PublishedXray:
    return PublishedXray(estimator)


publishing = Publishing(contract=CONTRACT, check=check, evaluate=evaluate, serve=serve)

"""Pneumonia from 28x28 chest X-rays: k-means convolutional features + logistic regression.

A single-layer feature learner in the style of Coates, Lee & Ng (2011), in numpy:
filters are k-means centroids of normalised, ZCA-whitened 5x5 patches; each
image is convolved with them, the responses are rectified (both signs) and
averaged over a 3x3 grid. Training adds 1-pixel shifts of every image and
prediction averages over the same shifts.

:class:`Familiarity` says when an image does not look like the X-rays the model learned from
(a flat or noisy square, a photo, a document): its contrast is lower than almost any X-ray's,
or its features lie far from theirs (a whitened PCA's distance plus what the PCA cannot
rebuild). Both thresholds keep FAMILIAR_SHARE of the official validation images each.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController

from mlapi.usecase import Step, Trained, no_progress, shares

DATA_FILE = "pneumoniamnist.npz"
SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))
SEED = 0
C = 0.01
THRESHOLD = 0.5
MESSAGES = {"normal": "Chest X-ray looks normal", "pneumonia": "Chest X-ray compatible with pneumonia"}
DATASET = {
    "name": "PneumoniaMNIST (MedMNIST v2)",
    "license": "CC BY 4.0",
    "source": "MedMNIST v2, Yang et al. 2023 (Scientific Data 10:41), "
    "from Kermany et al. 2018 (Cell 172:1122)",
}
BLAS = ThreadpoolController()
FAMILIAR_SHARE = 0.995  # of the validation X-rays each test of Familiarity keeps
FAMILIARITY_COMPONENTS = 16
UNFAMILIAR_MESSAGE = ("This does not look like the chest X-rays the model learned from (grey, "
                      "front view, the chest filling the square): no diagnosis")


class PatchFeatures(TransformerMixin, BaseEstimator):
    """Rectified responses to k-means filters learnt on whitened patches, pooled on a grid."""

    def __init__(self, patch: int = 5, n_filters: int = 256, grid: int = 3,
                 alpha: float = 0.25, n_patches: int = 50_000, random_state: int = SEED):
        self.patch = patch
        self.n_filters = n_filters
        self.grid = grid
        self.alpha = alpha
        self.n_patches = n_patches
        self.random_state = random_state

    def fit(self, images: np.ndarray, y: np.ndarray | None = None) -> PatchFeatures:
        """Learn the filters from random patches of ``images`` (n, h, w) uint8."""
        rng = np.random.default_rng(self.random_state)
        windows = _windows(images, self.patch)
        count = np.prod(windows.shape[:3])
        picks = np.unravel_index(rng.choice(count, min(self.n_patches, count), replace=False), windows.shape[:3])
        sample = _normalise(windows[picks].reshape(len(picks[0]), -1))
        mean = sample.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(sample - mean, rowvar=False))
        whiten = vectors @ np.diag(1 / np.sqrt(values + 0.1)) @ vectors.T
        kmeans = KMeans(self.n_filters, init="random", n_init=1, max_iter=20, random_state=self.random_state)
        centroids = kmeans.fit((sample - mean) @ whiten).cluster_centers_
        filters = whiten @ (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).T
        self.weights_ = filters.astype(np.float32)
        self.bias_ = (mean @ filters).astype(np.float32)
        self.pooling_ = _pooling_matrix(images.shape[1] - self.patch + 1, self.grid)
        return self

    def transform(self, images: np.ndarray, batch: int = 16) -> np.ndarray:
        """Features of shape (n, grid * grid * 2 * n_filters), in small batches to stay in cache.

        The products are small (rows of patch size), so BLAS threads would only add contention.
        """
        features = np.empty((len(images), self.grid**2 * 2 * self.n_filters), dtype=np.float32)
        with BLAS.limit(limits=1, user_api="blas"):
            for start in range(0, len(images), batch):
                features[start:start + batch] = self._features(images[start:start + batch])
        return features

    def _features(self, images: np.ndarray) -> np.ndarray:
        """Convolve, rectify both signs, pool: positions first, so pooling is one product per sign."""
        n = len(images)
        positions = self.pooling_.shape[1]
        patches = _normalise(_windows(images, self.patch).reshape(n, positions, -1))
        responses = patches.transpose(1, 0, 2).reshape(n * positions, -1) @ self.weights_ - self.bias_
        rectified = (np.maximum(responses - self.alpha, 0), np.maximum(-responses - self.alpha, 0))
        pooled = [(self.pooling_ @ part.reshape(positions, -1)).reshape(self.grid**2, n, -1) for part in rectified]
        return np.concatenate(pooled, axis=2).transpose(1, 0, 2).reshape(n, -1)


@dataclass
class Familiarity:
    """Whether images look like the training X-rays: enough contrast, and features near theirs."""

    pca: PCA  # whitened, fitted on the training images' features
    residual_scale: float  # the training features' mean squared residual after the PCA
    score_limit: float
    contrast_floor: float  # pixel standard deviation, 0-255

    def score(self, features: np.ndarray) -> np.ndarray:
        """Mean squared whitened coordinate plus the residual, in units of the training images'."""
        coordinates = self.pca.transform(features)
        residual = ((features - self.pca.inverse_transform(coordinates)) ** 2).sum(axis=1)
        return (coordinates**2).mean(axis=1) + residual / self.residual_scale

    def unfamiliar(self, images: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Per image (n, 28, 28) uint8 and its features (n, d): True where it does not look like an X-ray."""
        contrast = images.reshape(len(images), -1).std(axis=1)
        return (contrast < self.contrast_floor) | (self.score(features) > self.score_limit)


@dataclass
class XrayModel:
    """The classifier pipeline and the check that an image looks like what it learned from."""

    pipeline: Pipeline
    familiarity: Familiarity


def fit_familiarity(train_features: np.ndarray, val_images: np.ndarray, val_features: np.ndarray) -> Familiarity:
    """Fit on the training features; each threshold keeps FAMILIAR_SHARE of the validation images."""
    pca = PCA(min(FAMILIARITY_COMPONENTS, len(train_features) - 1), whiten=True, random_state=SEED)
    pca.fit(train_features)
    residual = ((train_features - pca.inverse_transform(pca.transform(train_features))) ** 2).sum(axis=1).mean()
    familiarity = Familiarity(pca, float(residual), 0.0, 0.0)
    familiarity.score_limit = float(np.quantile(familiarity.score(val_features), FAMILIAR_SHARE))
    contrast = val_images.reshape(len(val_images), -1).std(axis=1)
    familiarity.contrast_floor = float(np.quantile(contrast, 1 - FAMILIAR_SHARE))
    return familiarity


def _windows(images: np.ndarray, size: int) -> np.ndarray:
    """A view of every size x size patch: (n, h', w', size, size) float32 in [0, 1]."""
    return sliding_window_view(images.astype(np.float32) / 255, (size, size), axis=(1, 2))


def _normalise(patches: np.ndarray) -> np.ndarray:
    """Zero mean and (almost) unit variance per patch; the 0.01 keeps flat patches flat."""
    centred = patches - patches.mean(axis=-1, keepdims=True)
    return centred / np.sqrt(centred.var(axis=-1, keepdims=True) + 0.01)


def _pooling_matrix(side: int, grid: int) -> np.ndarray:
    """(grid * grid, side * side) matrix averaging a side x side map over a grid x grid of cells."""
    cell = np.minimum(np.arange(side) * grid // side, grid - 1)
    cells = (cell[:, None] * grid + cell[None, :]).ravel()
    onehot = (cells[None, :] == np.arange(grid * grid)[:, None]).astype(np.float32)
    return onehot / onehot.sum(axis=1, keepdims=True)


def _shift(images: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate images by (dx, dy) pixels (|dx|, |dy| <= 1), repeating the border."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = images.shape[1:]
    return padded[:, 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]


def _shifted(images: np.ndarray) -> np.ndarray:
    """The images under every shift in SHIFTS, one block of len(images) per shift."""
    return np.concatenate([_shift(images, dx, dy) for dx, dy in SHIFTS])


def pneumonia_probability(model: Pipeline, images: np.ndarray) -> np.ndarray:
    """P(pneumonia) for uint8 images (n, 28, 28), averaged over the shifts in SHIFTS."""
    return model.predict_proba(_shifted(images))[:, 1].reshape(len(SHIFTS), -1).mean(axis=0)


def probability_and_familiarity(model: XrayModel, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(pneumonia) as :func:`pneumonia_probability`, and whether each image is unfamiliar, from one
    computation of the features (the unshifted images' are the first block)."""
    features = model.pipeline[:-1].transform(_shifted(images))
    probability = model.pipeline[-1].predict_proba(features)[:, 1].reshape(len(SHIFTS), -1).mean(axis=0)
    return probability, model.familiarity.unfamiliar(images, features[:len(images)])


def _read(path: Path, sample: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The official splits, the training one cut to a stratified ``sample`` fraction when sample < 1 (val
    and test stay whole, so every version is measured on the same images)."""
    with np.load(path) as data:
        splits = {name: (data[f"{name}_images"], data[f"{name}_labels"].ravel()) for name in ("train", "val", "test")}
    if sample < 1:
        splits["train"] = _stratified(*splits["train"], sample)
    return splits


def _stratified(images: np.ndarray, labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random ``fraction`` of the rows, with the class balance kept."""
    kept, _, kept_labels, _ = train_test_split(images, labels, train_size=fraction, stratify=labels, random_state=SEED)
    return kept, kept_labels


def _scores(labels: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Accuracy, sensitivity and specificity at THRESHOLD, and ROC-AUC."""
    predicted = probability >= THRESHOLD
    return {
        "accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "roc_auc": round(float(roc_auc_score(labels, probability)), 4),
        "sensitivity": round(float(predicted[labels == 1].mean()), 4),
        "specificity": round(float(1 - predicted[labels == 0].mean()), 4),
    }


def build_pipeline() -> Pipeline:
    """Features, standardisation, class-balanced logistic regression."""
    classifier = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
    return make_pipeline(PatchFeatures(), StandardScaler(copy=False), classifier)  # scales fresh features in place


def train(data_dir: Path, sample: float = 1.0, step: Step = no_progress) -> Trained:
    """Fit on the official train split and score on the official test split (and val)."""
    step("read data")
    splits = _read(Path(data_dir) / DATA_FILE, sample)
    step("fit")
    pipeline = build_pipeline()
    images, labels = splits["train"]
    pipeline.fit(_shifted(images), np.tile(labels, len(SHIFTS)))
    features = pipeline[:-1]
    familiarity = fit_familiarity(features.transform(images), splits["val"][0], features.transform(splits["val"][0]))
    model = XrayModel(pipeline, familiarity)
    step("evaluate")
    test_probability = pneumonia_probability(pipeline, splits["test"][0])
    test = _scores(splits["test"][1], test_probability)
    val = _scores(splits["val"][1], pneumonia_probability(pipeline, splits["val"][0]))
    test_familiar = ~familiarity.unfamiliar(splits["test"][0], features.transform(splits["test"][0]))
    metrics = {**test, "test_rows": len(splits["test"][1]),
               **{f"val_{name}": value for name, value in val.items()}, "threshold": THRESHOLD,
               "test_familiar_share": round(float(test_familiar.mean()), 4)}
    rows = {f"{name}_rows": len(y) for name, (_, y) in splits.items()}
    patch = pipeline.named_steps["patchfeatures"]
    params = {
        "method": "k-means convolutional features (Coates & Ng 2011) + logistic regression",
        "patch": patch.patch, "filters": patch.n_filters, "grid": patch.grid,
        "alpha": patch.alpha, "augmentation": "1-pixel shifts, train and predict",
        "C": C, "class_weight": "balanced", "selected_on": "val log-loss", "seed": SEED, **rows,
        "familiarity": {"contrast_floor": round(familiarity.contrast_floor, 2),
                        "score_limit": round(familiarity.score_limit, 3), "components": familiarity.pca.n_components_,
                        "kept_on_val": FAMILIAR_SHARE},
    }
    predicted = shares(_result(float(p))["label"] for p in test_probability)
    dataset = {**DATASET, "rows": sum(rows.values())}
    return Trained(model=model, metrics=metrics, dataset=dataset, params=params, label_shares=predicted)


def predict(model: XrayModel | Pipeline, items: list[dict]) -> list[dict]:
    """Label, its probability, both probabilities and a message for each item's (28, 28) pixels, and whether
    the image looks like the training X-rays (``unfamiliar``; None for a model without the check: a
    published one, or one trained before it)."""
    if not items:
        return []
    images = np.stack([item["pixels"] for item in items])
    unfamiliar = [None] * len(images)
    if isinstance(model, XrayModel):
        pneumonia, flags = probability_and_familiarity(model, images)
        unfamiliar = flags.tolist()
    elif hasattr(model, "pneumonia_probability"):  # a published model (mlapi.xray.publishing)
        pneumonia = model.pneumonia_probability(images)
    else:
        pneumonia = pneumonia_probability(model, images)
    return [_result(float(p), flag) for p, flag in zip(pneumonia, unfamiliar, strict=True)]


def _result(pneumonia: float, unfamiliar: bool | None = None) -> dict:
    """One answer; the label and message follow the rounded probabilities, so they always agree. An unfamiliar
    image's message says so instead of a diagnosis."""
    probabilities = {"normal": round(1 - pneumonia, 4), "pneumonia": round(pneumonia, 4)}
    label = "pneumonia" if probabilities["pneumonia"] >= THRESHOLD else "normal"
    message = UNFAMILIAR_MESSAGE if unfamiliar else f"{MESSAGES[label]}: {round(100 * probabilities[label])}%"
    return {
        "label": label,
        "probability": probabilities[label],
        "probabilities": probabilities,
        "message": message,
        "unfamiliar": unfamiliar,
    }


def outcome(result: dict) -> tuple[str, float]:
    """The predicted label and its probability, for monitoring."""
    return result["label"], result["probability"]

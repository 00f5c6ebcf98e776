"""Model files in the skops format: written and read without ever running code from the file.

A pickle (joblib's format) runs whatever its bytes name as it loads, so a file dropped into
``artifacts/`` could run code in every worker. skops stores the same objects as data: loading
first lists the types a file names, and mlapi refuses the file unless every type is on a
server-side allow-list, never read from the file itself:

- what skops trusts by default (scikit-learn estimators, NumPy and SciPy types, builtins);
- ``PLAIN_DATA_TYPES``: scikit-learn and SciPy helpers that skops lists but that only hold data;
- the classes a use case names as its own (``UseCase.model_types``), plain dataclasses that mlapi wrote.

A published model (an upload, :mod:`mlapi.publishing`) is read with ``PUBLISHED_TYPES`` instead of the
use case's own classes: scikit-learn's estimators and the helpers inside common models, NumPy, SciPy
sparse and builtins, never an mlapi class nor anything the file itself asks to trust.

A new type in a model makes ``load_model`` refuse it, naming the type: add it here after checking
that building it from data runs no code (no ``__setstate__`` or ``__reduce__`` that acts).
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import skops.io as sio

PLAIN_DATA_TYPES = frozenset({
    "scipy.sparse._csr.csr_matrix",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})
# Inside the models students publish (trees and forests, k-NN, neural networks): arrays and numbers,
# rebuilt by skops's own loaders or from their state, never by a call the file names.
PUBLISHED_TYPES = PLAIN_DATA_TYPES | {
    "sklearn.tree._tree.Tree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
}


class TypeNotAllowed(Exception):
    """The file names a type outside the allow-list; ``types`` lists them."""

    def __init__(self, types: list[str]) -> None:
        super().__init__(f"types not allowed in a model file: {', '.join(types)}")
        self.types = types


def save_model(model: Any, path: Path) -> None:
    """Write ``model`` to ``path`` in the skops format."""
    sio.dump(model, path)


def load_model(path: Path, allowed: Iterable[str] = ()) -> Any:
    """Read a skops file whose every type is trusted by skops, in PLAIN_DATA_TYPES, or in ``allowed``.

    :raises TypeNotAllowed: the file names any other type (nothing of it was built).
    """
    listed = sio.get_untrusted_types(file=path)
    refused = sorted(set(listed) - PLAIN_DATA_TYPES - set(allowed))
    if refused:
        raise TypeNotAllowed(refused)
    return sio.load(path, trusted=listed)

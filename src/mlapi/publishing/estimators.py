"""What the use cases' contracts ask of an uploaded estimator, in words a student can act on."""
from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from mlapi.usecase import ContractBroken
from mlapi.words import N_


def described(estimator: Any) -> str:
    """The model's steps by class name: 'TfidfVectorizer + LogisticRegression'."""
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    return " + ".join(type(step).__name__ for step in steps)


def check_binary(estimator: Any, width: int, classes: str) -> None:
    """A fitted classifier with ``predict_proba`` and classes_ 0 and 1, over ``width`` columns where it says.

    :raises ContractBroken: it is not one; ``classes`` says what 0 and 1 mean (an ``N_`` message of its own).
    """
    if not hasattr(estimator, "predict_proba"):
        raise ContractBroken(N_("The model (a {model_type}) has no predict_proba: this use case needs a classifier "
                                "that gives class probabilities.").format(model_type=type(estimator).__name__))
    found = list(getattr(estimator, "classes_", []))
    if len(found) != 2 or not all(isinstance(label, (int, np.integer, bool, np.bool_)) for label in found) \
            or [int(label) for label in found] != [0, 1]:
        raise ContractBroken(N_("The model's classes are {found}; this use case needs exactly 0 and 1 ({classes}).")
                             .format(found=[str(label) for label in found], classes=classes))
    expected = getattr(estimator, "n_features_in_", width)
    if expected != width:
        raise ContractBroken(N_("The model was fitted on {expected} columns; this use case sends {width}.")
                             .format(expected=expected, width=width))


def probability_of_one(estimator: Any, x: Any) -> np.ndarray:
    """P(class 1) of each row, checked to be one per row.

    :raises ContractBroken: predict_proba gave another shape.
    """
    probabilities = np.asarray(estimator.predict_proba(x), dtype=float)
    if probabilities.shape != (len(x), 2):
        raise ContractBroken(N_("predict_proba gave an array of shape {shape} for {rows} row(s); expected ({rows}, "
                                "2).").format(shape=probabilities.shape, rows=len(x)))
    return probabilities[:, 1]

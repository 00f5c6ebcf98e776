"""Published fraud models: the contract, the threshold and metrics on the trained model's splits, serving.

The server chooses a published model's threshold on the validation split by the trained model's
rule and measures it on the same test split, so the cards compare. A linear model (a classifier
with ``coef_``, alone or after per-column scalers) explains exactly, in log-odds; any other by the
trained model's method (each feature alone set to its training median).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

from mlapi.fraud.model import (
    DATASET,
    FEATURES,
    PRECISION_FLOOR,
    FraudModel,
    choose_threshold,
    decision,
    fraud_probability,
    held_out_metrics,
    pick_examples,
    read_data,
    split,
)
from mlapi.publishing.estimators import check_binary, described, probability_of_one
from mlapi.usecase import ContractBroken, Evaluation, Publishing, shares
from mlapi.words import N_

PER_COLUMN = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)  # affine per column: linear stays linear

CONTRACT = N_(
    "A fitted binary scikit-learn classifier with predict_proba over the 30 features Time, V1 .. V28, Amount, "
    "in that order as a NumPy array, or as a DataFrame with those column names; classes_ 0 (legitimate) and "
    "1 (fraud), the dataset's Class. The server chooses its threshold on the validation split (best recall "
    "at precision >= {precision_floor}, else best F1) and measures it on the test split of "
    "data/fraud/creditcard_sample.csv: test = train_test_split(frame, test_size=0.2, random_state=42, "
    "stratify=Class), then validation = 25% of the rest the same way. Train on the remaining 60%."
).format(precision_floor=PRECISION_FLOOR)


@dataclass
class FramedClassifier:
    """A model fitted on a DataFrame: rows in FEATURES order reach it as its own named columns."""

    estimator: Any
    columns: list[str]

    def frame(self, x: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(x, columns=FEATURES)[self.columns]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(self.frame(x))

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return self.estimator.decision_function(self.frame(x))


def fed(estimator: Any) -> Any:
    """The model as ``fraud_probability`` calls it: with named columns if it was fitted on a DataFrame."""
    names = getattr(estimator, "feature_names_in_", None)
    return estimator if names is None else FramedClassifier(estimator, [str(name) for name in names])


def is_linear(estimator: Any) -> bool:
    """Whether the log-odds are linear in the features: per-column scalers, then a classifier with coef_."""
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    coef = getattr(steps[-1], "coef_", None)
    return (isinstance(coef, np.ndarray) and coef.shape == (1, len(FEATURES))
            and hasattr(estimator, "decision_function") and all(isinstance(step, PER_COLUMN) for step in steps[:-1]))


def check(estimator: Any, items: list[dict]) -> None:
    """The contract: P(fraud) for rows of the 30 features, by position or by name; the example's first."""
    check_binary(estimator, len(FEATURES), N_("0 legitimate, 1 fraud: the dataset's Class"))
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and sorted(map(str, names)) != sorted(FEATURES):
        missing = sorted(set(FEATURES) - set(map(str, names)))
        unknown = sorted(set(map(str, names)) - set(FEATURES))
        if missing and unknown:
            message = N_("The model was fitted on columns the API does not send: missing {missing}, unknown "
                         "{unknown}; fit on Time, V1 .. V28, Amount.")
        elif missing:
            message = N_("The model was fitted on columns the API does not send: missing {missing}, unknown none; "
                         "fit on Time, V1 .. V28, Amount.")
        elif unknown:
            message = N_("The model was fitted on columns the API does not send: missing none, unknown {unknown}; "
                         "fit on Time, V1 .. V28, Amount.")
        else:  # the same columns, one of them twice
            message = N_("The model was fitted on columns the API does not send: missing none, unknown none; "
                         "fit on Time, V1 .. V28, Amount.")
        raise ContractBroken(message.format(missing=missing, unknown=unknown))
    x = np.array([[item["transaction"][name] for name in FEATURES] for item in items], dtype=float)
    probability_of_one(fed(estimator), x)


def evaluate(estimator: Any, data_dir: Path) -> Evaluation:
    """Threshold on the validation split, metrics on the test split: the trained model's, minus its CV."""
    frame = read_data(data_dir)
    fit_rows, validation, test = split(frame)
    classifier = fed(estimator)
    threshold = choose_threshold(validation["Class"].to_numpy(),
                                 fraud_probability(classifier, validation[FEATURES].to_numpy()))
    probability = fraud_probability(classifier, test[FEATURES].to_numpy())
    serving = {
        "threshold": threshold,
        "medium_from": round(threshold / 2, 4),
        "medians": fit_rows[FEATURES].median().tolist(),
        "examples": pick_examples(test),
        "explanation": "linear" if is_linear(estimator) else "occlusion",
    }
    return Evaluation(metrics=held_out_metrics(frame, test, probability, threshold),
                      label_shares=shares(decision(p >= threshold) for p in probability),
                      description=described(estimator), dataset={**DATASET, "rows": len(frame)},
                      explanation_method=serving["explanation"], serving=serving)


def serve(estimator: Any, serving: dict[str, Any]) -> FraudModel:
    """The trained model's form around the published one, with its recorded threshold and medians."""
    return FraudModel(fed(estimator), serving["threshold"], serving["medium_from"], np.array(serving["medians"]),
                      serving["examples"], serving["explanation"])


publishing = Publishing(contract=CONTRACT, check=check, evaluate=evaluate, serve=serve)

"""The fraud model alone: a tiny real training, decisions, risk, explanations and examples."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlapi.fraud import model

DATA = Path(__file__).resolve().parents[2] / "data" / "fraud"
SAMPLE = 0.1
RESULT_KEYS = {"fraud_probability", "is_fraud", "threshold", "risk", "top_factors", "explanation_method"}


@pytest.fixture(scope="module")
def run():
    steps = []
    trained = model.train(DATA, sample=SAMPLE, step=steps.append)
    return trained, steps


@pytest.fixture(scope="module")
def trained(run):
    return run[0]


@pytest.fixture(scope="module")
def splits():
    return model.split(model.read_data(DATA))


def items_of(transactions):
    return [{"transaction": dict(t)} for t in transactions]


def test_features_are_the_dataset_columns():
    header = pd.read_csv(DATA / model.DATA_FILE, nrows=0).columns
    assert model.FEATURES == [name for name in header if name != "Class"] and len(model.FEATURES) == 30


def test_training_calls_each_step_in_order(run):
    assert run[1] == ["read data", "fit", "evaluate"]


def test_training_reports_held_out_metrics(trained, splits):
    metrics, test = trained.metrics, splits[2]
    for name in ("roc_auc", "pr_auc", "precision", "recall", "precision_at_real_ratio", "brier"):
        assert 0 <= metrics[name] <= 1
    confusion = metrics["confusion"]
    assert sum(confusion.values()) == metrics["test_rows"] == len(test)
    assert confusion["tp"] + confusion["fn"] == metrics["test_frauds"] == test["Class"].sum()
    assert metrics["recall"] == pytest.approx(confusion["tp"] / metrics["test_frauds"], abs=1e-4)
    assert metrics["precision_at_real_ratio"] <= metrics["precision"]
    assert {"roc_auc", "pr_auc", "precision", "recall"} <= set(metrics["cv"])
    assert metrics["threshold"] == trained.params["threshold"] == trained.model.threshold
    assert trained.dataset["rows"] == sum(len(part) for part in splits)


def test_too_small_a_sample_is_refused():
    fit_rows = model.split(model.read_data(DATA))[0]
    with pytest.raises(ValueError, match="frauds to fit on"):
        model.sampled(fit_rows, 0.03)


def test_threshold_is_the_best_recall_at_the_precision_floor():
    y = np.array([0, 0, 0, 1, 1, 1])
    assert model.choose_threshold(y, np.array([0.1, 0.2, 0.6, 0.5, 0.8, 0.9])) == 0.8
    assert model.choose_threshold(np.array([1, 0]), np.array([0.2, 0.9])) == 0.2  # floor unreachable: best F1


def test_risk_levels_follow_the_cut_points(trained):
    fitted = trained.model
    assert 0 < fitted.medium_from < fitted.threshold
    assert model.risk_level(fitted.threshold, fitted) == "high"
    assert model.risk_level(fitted.threshold - 1e-4, fitted) == "medium"
    assert model.risk_level(fitted.medium_from, fitted) == "medium"
    assert model.risk_level(fitted.medium_from - 1e-4, fitted) == "low"


def test_predictions_are_consistent(trained):
    transactions = [example["transaction"] for example in model.examples(trained.model)]
    results = model.predict(trained.model, items_of(transactions))
    assert len(results) == len(transactions)
    assert {result["is_fraud"] for result in results} == {True, False}
    for transaction, result in zip(transactions, results, strict=True):
        assert set(result) == RESULT_KEYS
        probability = result["fraud_probability"]
        assert 0 <= probability <= 1 and probability == round(probability, 4)
        assert result["threshold"] == trained.model.threshold
        assert result["is_fraud"] == (probability >= result["threshold"])
        assert result["risk"] == model.risk_level(probability, trained.model)
        factors = result["top_factors"]
        assert len(factors) == model.TOP_FACTORS == len({factor["feature"] for factor in factors})
        sizes = [abs(factor["contribution"]) for factor in factors]
        assert sizes == sorted(sizes, reverse=True)
        assert all(factor["value"] == transaction[factor["feature"]] for factor in factors)


def test_contribution_is_the_change_when_the_feature_alone_is_typical(trained):
    fitted = trained.model
    transaction = next(e["transaction"] for e in model.examples(fitted) if e["label"] == "fraud")
    (result,) = model.predict(fitted, items_of([transaction]))
    x = np.array([[transaction[name] for name in model.FEATURES]])
    for factor in result["top_factors"]:
        typical = x.copy()
        j = model.FEATURES.index(factor["feature"])
        typical[0, j] = fitted.medians[j]
        change = fitted.classifier.predict_proba(x)[0, 1] - fitted.classifier.predict_proba(typical)[0, 1]
        assert factor["contribution"] == pytest.approx(change, abs=2e-4)


def test_a_fraud_like_value_pushes_towards_fraud(trained, splits):
    fit_rows, _, test = splits
    fraud_v14 = fit_rows.loc[fit_rows["Class"] == 1, "V14"].median()
    legitimate = test.loc[test["Class"] == 0, model.FEATURES].iloc[0].to_dict()
    before, after = model.predict(trained.model, items_of([legitimate, {**legitimate, "V14": fraud_v14}]))
    assert after["fraud_probability"] > before["fraud_probability"]
    v14 = next(factor for factor in after["top_factors"] if factor["feature"] == "V14")
    assert v14["value"] == fraud_v14 and v14["contribution"] > 0


def test_batch_equals_single_predictions(trained, splits):
    rows = splits[2][model.FEATURES].iloc[:20].to_dict("records")
    batch = model.predict(trained.model, items_of(rows))
    assert batch == [model.predict(trained.model, items_of([row]))[0] for row in rows]


def test_examples_are_deterministic_held_out_and_balanced(trained, splits):
    fit_rows, validation, test = splits
    stored = model.examples(trained.model)
    assert stored == model.pick_examples(test) and len(stored) == model.N_EXAMPLES
    assert sum(e["label"] == "fraud" for e in stored) == min(model.N_EXAMPLES // 2, test["Class"].sum())
    seen_in_training = set(map(tuple, pd.concat([fit_rows, validation])[model.FEATURES].to_numpy()))
    test_labels = dict(zip(map(tuple, test[model.FEATURES].to_numpy()), test["Class"], strict=True))
    for example in stored:
        key = tuple(example["transaction"][name] for name in model.FEATURES)
        assert key in test_labels and key not in seen_in_training
        assert example["label"] == ("fraud" if test_labels[key] == 1 else "legitimate")

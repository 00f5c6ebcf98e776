"""The sentiment model alone: tiny real training, predictions and exact explanations."""
from pathlib import Path

import numpy as np
import pytest

from mlapi.config import Config
from mlapi.sentiment import model
from mlapi.sentiment.model import term_of
from tests.conftest import SAMPLE

TEXTS = [
    "The crew was GREAT, thanks!! Best flight ever",
    "My bag is lost and nobody answers the phone. Worst airline.",
    "What time does flight 123 land in Boston?",
    "qwzx",
]


@pytest.fixture(scope="module")
def trained():
    return model.train(Path(Config.DATA_DIR) / "sentiment", sample=SAMPLE)


def test_training_reports_held_out_metrics(trained):
    metrics = trained.metrics
    assert 0 < metrics["accuracy"] <= 1 and 0 < metrics["macro_f1"] <= 1
    assert set(metrics["f1_per_class"]) == {"negative", "neutral", "positive"}
    assert metrics["test_rows"] > 0 and trained.dataset["rows"] > metrics["test_rows"]


def test_training_calls_each_step_in_order():
    seen = []
    model.train(Path(Config.DATA_DIR) / "sentiment", sample=SAMPLE, step=seen.append)
    assert seen == ["read data", "fit", "evaluate"]


def test_predictions_are_consistent(trained):
    results = model.predict(trained.model, [{"text": t} for t in TEXTS])
    assert len(results) == len(TEXTS)
    for result in results:
        probabilities = result["probabilities"]
        assert set(probabilities) == {"negative", "neutral", "positive"}
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-3)
        assert result["label"] == max(probabilities, key=probabilities.get)
        assert result["score"] == probabilities[result["label"]]
        weights = [abs(item["weight"]) for item in result["explanation"]]
        assert weights == sorted(weights, reverse=True)


def test_explanation_terms_come_from_the_text(trained):
    (result,) = model.predict(trained.model, [{"text": TEXTS[1]}])
    words = {term_of(w) for w in TEXTS[1].split()}
    assert result["explanation"] and {item["term"] for item in result["explanation"]} <= words


@pytest.mark.parametrize("path", ["plain", "compiled"])
def test_word_weights_add_up_to_the_linear_score(trained, path):
    features = trained.model.pipeline[:-1].transform(TEXTS).tocsr()
    scored = model.score(trained.model, TEXTS) if path == "plain" else trained.model.compiled.score(TEXTS)
    for row, text in enumerate(TEXTS):
        centred_logit = features[row] @ trained.model.centred_coef[scored.winners[row]]
        assert sum(scored.word_weights[row]) == pytest.approx(float(centred_logit[0]), abs=1e-9)
        assert len(scored.word_weights[row]) == len(text.split())


def test_centred_scores_give_the_same_probabilities(trained):
    features = trained.model.pipeline[:-1].transform(TEXTS)
    classifier = trained.model.pipeline[-1]
    logits = features @ trained.model.centred_coef.T + classifier.intercept_
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(softmax, classifier.predict_proba(features), atol=1e-9)


def test_term_of_strips_punctuation():
    assert term_of("Great!!") == "great"
    assert term_of("?!") == "?!"

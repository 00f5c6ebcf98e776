"""Settings the compiled path does not reproduce: the model trains, saves, loads and serves with scikit-learn."""
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from mlapi import catalog
from mlapi.config import Config
from mlapi.sentiment import model, use_case
from mlapi.sentiment.compiled import unsupported
from mlapi.sentiment.model import owned_occurrences, term_of
from mlapi.serving.model_files import load_model, save_model
from mlapi.serving.registry import Registry, registry
from mlapi.serving.training import json_schema
from tests.conftest import SAMPLE

# Word 1-3-grams without accents or English stop words; character 2-4-grams across words, binary, l1 norms.
WORD = {"ngram_range": (1, 3), "strip_accents": "unicode", "stop_words": "english", "min_df": 2}
CHAR = {"analyzer": "char", "ngram_range": (2, 4), "min_df": 2, "binary": True, "norm": "l1"}
TEXTS = [
    "The crew was GREAT, thanks!! Best flight ever",
    "My bag is lost and nobody answers the phone. Worst airline.",
    "What time does flight 123 land in Boston?",
    "Très bien, café crème — “merci”…", "good !!! flight delayed", "thank !!! you", "qwzx",
    "!!!", "  spaced\tout\n\nwords  ", "late late late, late!", "x" * 5000, ("worst delay " * 400).strip(),
]


@pytest.fixture(scope="module")
def trained():
    return model.train(Path(Config.DATA_DIR) / "sentiment", sample=SAMPLE, word=WORD, char=CHAR)


def assert_result_shape(result: dict, text: str, labels: list[str]) -> None:
    assert set(result) == {"label", "score", "probabilities", "explanation", "explanation_method", "looks_english"}
    probabilities = result["probabilities"]
    assert list(probabilities) == labels
    assert sum(probabilities.values()) == pytest.approx(1, abs=1e-3)
    assert result["label"] == max(probabilities, key=probabilities.get)
    assert result["score"] == probabilities[result["label"]]
    assert {item["term"] for item in result["explanation"]} <= {term_of(word) for word in text.split()}
    weights = [abs(item["weight"]) for item in result["explanation"]]
    assert weights == sorted(weights, reverse=True) and len(weights) <= model.TOP_TERMS


def test_the_compiled_path_refuses_these_settings_and_training_goes_on(trained):
    refused = unsupported(trained.model.pipeline)
    for setting in ("word strip_accents", "word stop_words", "word ngram_range", "char analyzer", "char binary",
                    "char norm"):
        assert any(reason.startswith(setting) for reason in refused), setting
    assert trained.model.compiled is None
    assert 0 < trained.metrics["accuracy"] <= 1
    assert "ngram_range=(1, 3)" in trained.params["word_ngrams"]
    assert "analyzer='char'" in trained.params["char_ngrams"]


def test_predictions_have_the_same_shape_and_the_pipeline_s_probabilities(trained):
    results = model.predict(trained.model, [{"text": text} for text in TEXTS])
    expected = trained.model.pipeline.predict_proba(TEXTS)
    for result, text, row in zip(results, TEXTS, expected, strict=True):
        assert_result_shape(result, text, trained.model.labels)
        assert list(result["probabilities"].values()) == [round(p, 4) for p in row]
    assert results[0]["explanation"] and results[1]["label"] == "negative"
    assert [model.predict(trained.model, [{"text": text}])[0] for text in TEXTS] == results


def test_every_feature_s_push_is_given_to_the_words(trained):
    """The words' weights add up to the winner's centred score, n-grams across words and odd spaces included."""
    features = trained.model.pipeline[:-1].transform(TEXTS).tocsr()
    scored = model.score(trained.model, TEXTS)
    for row, text in enumerate(TEXTS):
        centred_logit = features[row] @ trained.model.centred_coef[scored.winners[row]]
        assert len(scored.word_weights[row]) == len(text.split())
        if text.split():
            assert sum(scored.word_weights[row]) == pytest.approx(float(centred_logit[0]), abs=1e-9)


def test_what_no_run_of_words_gives_within_the_budget_is_spread(trained, monkeypatch):
    """Past MAX_RUN_CHARACTERS n-grams across words are not placed, yet every push still reaches the words."""
    text = "good !!! flight " * 30
    placed = model.score(trained.model, [text]).word_weights[0]
    monkeypatch.setattr(model, "MAX_RUN_CHARACTERS", 10)
    spread = model.score(trained.model, [text]).word_weights[0]
    assert sum(spread) == pytest.approx(sum(placed), abs=1e-9)
    assert np.abs(np.subtract(spread, placed)).max() > 1e-6  # the cross-word grams went elsewhere


def test_saved_loaded_and_served_through_the_plain_path(trained, tmp_path, artifacts, make_app):
    save_model(trained.model, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops", use_case.model_types)
    assert loaded.compiled is None
    items = [{"text": text} for text in TEXTS]
    assert model.predict(loaded, items) == model.predict(trained.model, items)

    extra = {"input_schema": json_schema(use_case.request_schema), "example": use_case.example}
    version = Registry(artifacts, catalog.USE_CASES).save("sentiment", trained, extra)["version"]
    app = make_app()
    with app.app_context():
        registry.activate("sentiment", version)
        assert registry.get("sentiment").model.compiled is None
    client = app.test_client()
    one = client.post("/api/v1/sentiment", json={"text": TEXTS[0]})
    assert one.status_code == 200, one.get_data(as_text=True)
    body = one.get_json()
    assert body.pop("model") == {"name": "sentiment", "version": version}
    assert_result_shape(body, TEXTS[0], trained.model.labels)
    assert body == model.predict(trained.model, items[:1])[0]
    batch = client.post("/api/v1/sentiment", json={"texts": TEXTS[:4]}).get_json()
    assert batch["results"] == model.predict(trained.model, items[:4])


def occurrences(vectorizer: TfidfVectorizer, text: str) -> dict[str, dict[int, float]]:
    """``owned_occurrences`` with n-grams instead of vocabulary columns."""
    terms = vectorizer.get_feature_names_out()
    owned = owned_occurrences(vectorizer.build_analyzer(), vectorizer.vocabulary_, text, text.split())
    return {str(terms[column]): owners for column, owners in owned.items()}


def test_an_n_gram_across_words_is_shared_by_the_words_it_spans():
    words = TfidfVectorizer(ngram_range=(1, 3)).fit(["good flight late", "good late"])
    assert occurrences(words, "good !!! flight late") == {
        "good": {0: 1.0}, "flight": {2: 1.0}, "late": {3: 1.0},
        "good flight": {0: 0.5, 2: 0.5}, "flight late": {2: 0.5, 3: 0.5},
        "good flight late": {0: 1 / 3, 2: 1 / 3, 3: 1 / 3},
    }
    characters = TfidfVectorizer(analyzer="char", ngram_range=(2, 5)).fit(["a b c"])  # no word gives any alone
    half, third = 1 / 2, 1 / 3
    assert occurrences(characters, "a b c") == {
        "a ": {0: half, 1: half}, " b": {0: half, 1: half}, "a b": {0: half, 1: half},
        "b ": {1: half, 2: half}, " c": {1: half, 2: half}, "b c": {1: half, 2: half},
        " b ": {0: third, 1: third, 2: third}, "a b ": {0: third, 1: third, 2: third},
        " b c": {0: third, 1: third, 2: third}, "a b c": {0: third, 1: third, 2: third},
    }


def test_centred_weights_of_two_classes_give_the_sigmoid():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.2, 0.1]])
    classifier = LogisticRegression().fit(x, [0, 1, 1, 0])
    centred = model.centred(classifier.coef_)
    logits = x @ centred.T + classifier.intercept_[0] * np.array([-0.5, 0.5])
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(softmax, classifier.predict_proba(x), atol=1e-12)

"""The compiled sentiment path gives the pipeline's own probabilities and the same explanations."""
import bisect
import csv
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from mlapi.config import Config
from mlapi.sentiment import compiled, model
from mlapi.sentiment.compiled import CompiledSentiment, check_compilable, term_of
from mlapi.serving.model_files import MLAPI_TYPES, load_model, save_model
from tests.conftest import SAMPLE

EDGE_CASES = [
    "", "banana bandana", "good good", "thanks thanks thanks, thanks!",  # features repeated in and across words
    "qwzx", "a", "!!!", "great great great great", "  spaced\tout\n\nwords  ", "Ünïcödé ΟΔΟΣ café!!",
    "I’m “fine” — thanks…", "flight-123 to New-York, ok?", "no no no, NOT good", "x" * 5000,
]


@pytest.fixture(scope="module")
def trained():
    return model.train(Path(Config.DATA_DIR) / "sentiment", sample=SAMPLE).model


@pytest.fixture(scope="module")
def texts():
    with (Path(Config.DATA_DIR) / "sentiment" / "airline_tweets.csv").open(newline="") as handle:
        tweets = [row["text"] for row in csv.DictReader(handle)]
    return tweets[::20] + EDGE_CASES


def reference_word_weights(sentiment: model.SentimentModel, text: str, label: int) -> np.ndarray:
    """Each word's share of ``label``'s centred score, from the pipeline's own transform (slow and plain)."""
    row = sentiment.pipeline[:-1].transform([text]).tocsr()
    word_vec, char_vec = (vectorizer for _, vectorizer in sentiment.pipeline[0].transformer_list)
    lowered = text.lower()
    spans = [match.start() for match in re.finditer(r"\S+", lowered)]
    owned: list[tuple[int, int, float]] = []  # feature, word, share
    matches = re.finditer(word_vec.token_pattern, lowered)
    tokens = [(match.group(), bisect.bisect_right(spans, match.start()) - 1) for match in matches]
    for j, (token, word) in enumerate(tokens):
        if token in word_vec.vocabulary_:
            owned.append((word_vec.vocabulary_[token], word, 1.0))
        if j + 1 < len(tokens) and (bigram := f"{token} {tokens[j + 1][0]}") in word_vec.vocabulary_:
            owned += [(word_vec.vocabulary_[bigram], word, 0.5), (word_vec.vocabulary_[bigram], tokens[j + 1][1], 0.5)]
    analyzer = char_vec.build_analyzer()
    for index, word in enumerate(lowered.split()):
        owned += [(len(word_vec.vocabulary_) + char_vec.vocabulary_[g], index, 1.0)
                  for g in analyzer(word) if g in char_vec.vocabulary_]
    value = dict(zip(row.indices, row.data, strict=True))
    count: dict[int, float] = {}
    for feature, _, share in owned:
        count[feature] = count.get(feature, 0.0) + share
    weights = np.zeros(len(spans))
    for feature, word, share in owned:
        weights[word] += value[feature] * sentiment.centred_coef[label, feature] * share / count[feature]
    return weights


def test_probabilities_match_the_pipeline(trained, texts):
    expected = trained.pipeline.predict_proba(texts)
    assert np.abs(trained.compiled.score(texts).probabilities - expected).max() <= 1e-9


@pytest.mark.parametrize("path", ["C kernel", "numpy without the kernel"])
def test_one_text_at_a_time_matches_the_pipeline_and_the_batch(trained, texts, path, monkeypatch):
    """A single text takes the C kernel (``score_one``), or numpy where it was not built: the batch's numbers."""
    if path == "C kernel" and trained.compiled.kernel is None:
        pytest.skip("the C kernel was not built: pip found no C compiler when installing mlapi")
    if path != "C kernel":
        monkeypatch.setattr(trained.compiled, "kernel", None)
        monkeypatch.setattr(trained.compiled, "score_one", None)  # must not be called
    batch = trained.compiled.score(texts)
    alone = [trained.compiled.score([text]) for text in texts]
    probabilities = np.vstack([scored.probabilities for scored in alone])
    assert np.abs(probabilities - trained.pipeline.predict_proba(texts)).max() <= 1e-9
    assert np.abs(probabilities - batch.probabilities).max() <= 1e-12
    assert [scored.winners[0] for scored in alone] == batch.winners
    for scored, text, batch_weights in zip(alone, texts, batch.word_weights, strict=True):
        assert scored.terms == [[term_of(word) for word in text.split()]]
        assert np.abs(np.subtract(scored.word_weights[0], batch_weights)).max(initial=0) <= 1e-12


def test_word_weights_match_the_pipeline_reference(trained, texts):
    scored = trained.compiled.score(texts)
    for text, winner, weights in zip(texts, scored.winners, scored.word_weights, strict=True):
        assert np.abs(weights - reference_word_weights(trained, text, winner)).max(initial=0) <= 1e-9
    assert scored.terms[-4] == [term_of(word) for word in EDGE_CASES[-4].split()]


def test_forgetting_the_word_cache_changes_nothing(trained, texts, monkeypatch):
    before = trained.compiled.score(texts).probabilities
    monkeypatch.setattr(compiled, "MAX_CACHED_WORDS", 5)
    fresh = CompiledSentiment(trained.pipeline, trained.centred_coef)
    assert np.array_equal(fresh.score(texts).probabilities, before)
    assert len(fresh.words) <= 5


def test_saved_without_the_compiled_form_and_rebuilt_on_load(trained, tmp_path):
    assert "compiled" not in trained.__getstate__()
    save_model(trained, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops", MLAPI_TYPES)
    assert isinstance(loaded.compiled, CompiledSentiment)
    assert model.predict(loaded, [{"text": EDGE_CASES[-2]}]) == model.predict(trained, [{"text": EDGE_CASES[-2]}])


def test_settings_it_cannot_reproduce_are_refused():
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    char = TfidfVectorizer(analyzer="char_wb", sublinear_tf=True, strip_accents="unicode")
    with pytest.raises(ValueError, match="strip_accents"):
        check_compilable(word, char)


def test_plain_term_frequencies_are_refused():
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    with pytest.raises(ValueError, match="sublinear_tf"):
        check_compilable(word, TfidfVectorizer(analyzer="char_wb"))

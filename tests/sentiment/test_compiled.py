"""The compiled path (numpy for batches, the C kernel for one text) gives the plain path's numbers.

The plain path, ``model.score``, is the scikit-learn pipeline itself; the compiled path is an
accelerator that serves only a model it reproduces.
"""
import bisect
import csv
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlapi.config import Config
from mlapi.sentiment import compiled, model, use_case
from mlapi.sentiment.compiled import CompiledSentiment, unsupported
from mlapi.sentiment.model import term_of
from mlapi.serving.model_files import load_model, save_model
from tests.conftest import SAMPLE

EDGE_CASES = [
    "", "   ", "\n\t", "banana bandana", "good good", "thanks thanks thanks, thanks!",  # features repeated
    "qwzx", "zzzq qwzx xqqv", "a", "!!!", "great great great great", "  spaced\tout\n\nwords  ",
    "Ünïcödé ΟΔΟΣ café!!", "I’m “fine” — thanks…", "😀 great flight 😡", "flight-123 to New-York, ok?",
    "no no no, NOT good", "good !!! flight", "thank !!! ??? you", "GREAT\u00a0flight\u2003thanks",
    "x" * 5000, ("thank you " * 500).strip(),
]
TOLERANCE = 1e-9  # what the compiled path must reproduce the plain path to


@pytest.fixture(scope="module")
def trained():
    return model.train(Path(Config.DATA_DIR) / "sentiment", sample=SAMPLE).model


@pytest.fixture(scope="module")
def tweets():
    with (Path(Config.DATA_DIR) / "sentiment" / "airline_tweets.csv").open(newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def texts(tweets):
    """About 750 real tweets, a 5,000-character text of real ones, and the edge cases."""
    return tweets[::20] + [" ".join(tweets[:200])[:5000]] + EDGE_CASES


def assert_same_numbers(fast: model.Scored, plain: model.Scored, tolerance: float = TOLERANCE) -> None:
    assert fast.winners == plain.winners
    assert fast.terms == plain.terms
    assert np.abs(np.subtract(fast.probabilities, plain.probabilities)).max() <= tolerance
    for fast_weights, plain_weights in zip(fast.word_weights, plain.word_weights, strict=True):
        assert len(fast_weights) == len(plain_weights)
        assert np.abs(np.subtract(fast_weights, plain_weights)).max(initial=0) <= tolerance


def reference_word_weights(sentiment: model.SentimentModel, text: str, label: int) -> np.ndarray:
    """Each word's share of ``label``'s centred score, by token positions in the text (slow, written apart)."""
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


def test_the_trained_model_takes_the_compiled_path(trained):
    assert unsupported(trained.pipeline) == []
    assert isinstance(trained.compiled, CompiledSentiment)
    assert (trained.compiled.kernel is not None) == (compiled.Kernel is not None)


def test_the_plain_path_is_the_pipeline_itself(trained, texts):
    plain = model.score(trained, texts)
    assert np.abs(np.subtract(plain.probabilities, trained.pipeline.predict_proba(texts))).max() <= 1e-12
    for text, winner, weights in zip(texts, plain.winners, plain.word_weights, strict=True):
        assert np.abs(np.subtract(weights, reference_word_weights(trained, text, winner))).max(initial=0) <= 1e-9
    assert plain.terms == [[term_of(word) for word in text.split()] for text in texts]
    assert plain.terms[texts.index("good !!! flight")] == ["good", "!!!", "flight"]


def test_a_batch_agrees_with_the_plain_path(trained, texts):
    assert_same_numbers(trained.compiled.score(texts), model.score(trained, texts))


@pytest.mark.parametrize("path", ["C kernel", "numpy without the kernel"])
def test_one_text_at_a_time_agrees_with_the_plain_path_and_the_batch(trained, texts, path, monkeypatch):
    """A single text takes the C kernel (``score_one``), or numpy where it was not built: the same numbers."""
    if path == "C kernel" and trained.compiled.kernel is None:
        pytest.skip("the C kernel was not built: pip found no C compiler when installing mlapi")
    if path != "C kernel":
        monkeypatch.setattr(trained.compiled, "kernel", None)
        monkeypatch.setattr(trained.compiled, "score_one", None)  # must not be called
    plain = model.score(trained, texts)
    batch = trained.compiled.score(texts)
    for index, text in enumerate(texts):
        alone = trained.compiled.score([text])
        assert_same_numbers(alone, plain.text(index))
        assert_same_numbers(alone, batch.text(index), tolerance=1e-12)


@pytest.mark.parametrize("size", [1, 2, 7, 100])
def test_predict_answers_the_same_on_either_path(trained, texts, size, monkeypatch):
    batches = [texts[start:start + size] for start in range(0, len(texts), size)][:40]
    fast = [model.predict(trained, [{"text": text} for text in batch]) for batch in batches]
    monkeypatch.setattr(trained, "compiled", None)
    assert [model.predict(trained, [{"text": text} for text in batch]) for batch in batches] == fast


def test_forgetting_the_word_cache_changes_nothing(trained, texts, monkeypatch):
    before = trained.compiled.score(texts).probabilities
    monkeypatch.setattr(compiled, "MAX_CACHED_WORDS", 5)
    fresh = CompiledSentiment(trained.pipeline, trained.centred_coef)
    assert np.array_equal(fresh.score(texts).probabilities, before)
    assert len(fresh.words) <= 5


def test_saved_without_the_compiled_form_and_rebuilt_on_load(trained, tmp_path):
    assert "compiled" not in trained.__getstate__()
    save_model(trained, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops", use_case.model_types)
    assert isinstance(loaded.compiled, CompiledSentiment)
    items = [{"text": text} for text in EDGE_CASES]
    assert model.predict(loaded, items) == model.predict(trained, items)
    assert model.predict(loaded, items[-3:-2]) == model.predict(trained, items[-3:-2])


def test_without_the_kernel_predictions_are_the_same(trained, texts, tmp_path):
    """A Python where ``mlapi.sentiment._kernel`` cannot be imported (no C compiler at install) predicts the same."""
    save_model(trained, tmp_path / "model.skops")
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    script = """
import json, sys
sys.modules["mlapi.sentiment._kernel"] = None  # its import raises ImportError
from pathlib import Path
from mlapi.sentiment import compiled, model, use_case
from mlapi.serving.model_files import load_model
folder = Path(sys.argv[1])
loaded = load_model(folder / "model.skops", use_case.model_types)
texts = json.loads((folder / "texts.json").read_text())
one = [loaded.compiled.score([text]) for text in texts]
print(json.dumps({
    "kernel module": compiled.Kernel is not None, "compiled": loaded.compiled is not None,
    "kernel": loaded.compiled.kernel is not None,
    "probabilities": [scored.probabilities[0] for scored in one],
    "word weights": [scored.word_weights[0] for scored in one],
    "one by one": [model.predict(loaded, [{"text": text}])[0] for text in texts],
    "batch": model.predict(loaded, [{"text": text} for text in texts]),
}))
"""
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    without = json.loads(run.stdout)
    assert (without["kernel module"], without["compiled"], without["kernel"]) == (False, True, False)
    here = [trained.compiled.score([text]) for text in texts]  # the kernel, where it was built
    assert np.abs(np.subtract(without["probabilities"], [s.probabilities[0] for s in here])).max() <= 1e-12
    for theirs, ours in zip(without["word weights"], here, strict=True):
        assert np.abs(np.subtract(theirs, ours.word_weights[0])).max(initial=0) <= 1e-12
    items = [{"text": text} for text in texts]
    assert without["one by one"] == [model.predict(trained, [item])[0] for item in items]
    assert without["batch"] == model.predict(trained, items)


@pytest.mark.parametrize("where", ["score", "score_one"])
def test_a_compiled_path_that_disagrees_is_not_used(trained, monkeypatch, caplog, where):
    """The check when a model is made or loaded compares batches (``score``) and single texts (``score_one``)."""
    if where == "score_one" and trained.compiled.kernel is None:
        pytest.skip("the C kernel was not built: one text takes score's numpy path")
    honest = getattr(CompiledSentiment, where)

    def off_by_a_little(self, *args):
        scored = honest(self, *args)
        scored.probabilities[-1][0] += 1e-7
        return scored

    monkeypatch.setattr(CompiledSentiment, where, off_by_a_little)
    with caplog.at_level(logging.WARNING, logger="mlapi.sentiment.model"):
        rebuilt = model.SentimentModel(trained.pipeline, trained.centred_coef)
    assert rebuilt.compiled is None
    assert "differs from it by 1e-07" in caplog.text
    monkeypatch.undo()
    items = [{"text": text} for text in EDGE_CASES]
    assert model.predict(rebuilt, items) == model.predict(trained, items)


TINY = (["good flight thanks", "great crew thank you", "love it"] + ["bad delay", "lost bag awful", "worst"]
        + ["flight at noon", "what time", "gate number"])
TINY_LABELS = ["positive"] * 3 + ["negative"] * 3 + ["neutral"] * 3


@pytest.mark.parametrize("word, char, named", [
    ({"strip_accents": "unicode"}, {}, "word strip_accents='unicode'"),
    ({"sublinear_tf": False}, {}, "word sublinear_tf=False"),
    ({"ngram_range": (1, 3)}, {}, "word ngram_range=(1, 3)"),
    ({"stop_words": "english"}, {}, "word stop_words='english'"),
    ({"token_pattern": r"(?u)\b\w+\b"}, {}, "word token_pattern="),
    ({"lowercase": False}, {}, "word lowercase=False"),
    ({}, {"analyzer": "char"}, "char analyzer='char'"),
    ({}, {"binary": True}, "char binary=True"),
    ({}, {"norm": "l1"}, "char norm='l1'"),
    ({}, {"use_idf": False}, "char use_idf=False"),
    ({}, {"dtype": np.float32}, "char dtype="),
])
def test_unsupported_names_each_setting_it_does_not_reproduce(word, char, named):
    pipeline = model.build_pipeline({**model.WORD_NGRAMS, "min_df": 1, **word},
                                    {**model.CHAR_NGRAMS, "min_df": 1, **char})
    pipeline.fit(TINY, TINY_LABELS)
    refused = unsupported(pipeline)
    assert len(refused) == 1 and refused[0].startswith(named)
    with pytest.raises(ValueError, match="cannot compile"):
        CompiledSentiment(pipeline, model.centred(pipeline[-1].coef_))
    assert model.SentimentModel(pipeline, model.centred(pipeline[-1].coef_)).compiled is None


def test_two_classes_are_not_compiled():
    pipeline = model.build_pipeline({**model.WORD_NGRAMS, "min_df": 1}, {**model.CHAR_NGRAMS, "min_df": 1})
    pipeline.fit(TINY[:6], TINY_LABELS[:6])
    assert unsupported(pipeline) == ["two classes (a sigmoid, not a softmax)"]
    assert model.SentimentModel(pipeline, model.centred(pipeline[-1].coef_)).compiled is None


def test_a_compiled_path_that_fails_is_not_used(trained, monkeypatch, caplog):
    def broken(self, texts):
        raise IndexError("a bug in the accelerator")

    monkeypatch.setattr(CompiledSentiment, "score", broken)
    with caplog.at_level(logging.WARNING, logger="mlapi.sentiment.model"):
        rebuilt = model.SentimentModel(trained.pipeline, trained.centred_coef)
    assert rebuilt.compiled is None
    assert "failed on the probe texts" in caplog.text and "a bug in the accelerator" in caplog.text
    monkeypatch.undo()
    items = [{"text": text} for text in EDGE_CASES]
    assert model.predict(rebuilt, items) == model.predict(trained, items)

"""Sentiment: word and character n-gram TF-IDF with a multinomial logistic regression.

Trained on the Twitter US Airline Sentiment tweets (negative / neutral / positive)
plus the UCI labelled sentences (product, movie and restaurant reviews: extra
positive and negative vocabulary beyond airlines). Measured on a fixed held-out
20% of the airline tweets only. No Flask here: run ``train`` and ``predict`` alone.

``score`` predicts and explains with the scikit-learn pipeline itself, whatever the
vectorisers' settings: it is the model. ``compiled.py`` (with its C kernel) is an optional
accelerator of the same numbers. A model uses it only when its settings are ones the compiled
path reproduces and, on probe texts, it gives ``score``'s probabilities and word weights to
within 1e-9; that is decided once, when the model is fitted or loaded. Otherwise every text
goes through ``score``: slower, never refused. What the compiled path saves and how to measure
it: docs/performance.md.
"""
from __future__ import annotations

import copy
import csv
import itertools
import json
import logging
import math
import string
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from mlapi.sentiment.language import looks_english
from mlapi.usecase import Step, Trained, no_progress, shares

if TYPE_CHECKING:
    from mlapi.sentiment.compiled import CompiledSentiment

log = logging.getLogger(__name__)

WORD_NGRAMS = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}
CHAR_NGRAMS = {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2, "sublinear_tf": True}
C = 4.0
TEST_SIZE = 0.2
SEED = 42
TOP_TERMS = 8
CLASSES = ("negative", "neutral", "positive")  # every answer has a probability for each (0 if a model lacks one)
UCI_FILES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")
FAST = {"assume_finite": True, "skip_parameter_validation": True}  # checks a validated request need not pay
AGREEMENT = 1e-9  # the compiled path serves only if its numbers are this close to ``score``'s
# Texts the compiled path must reproduce before it serves: ordinary ones, and the edge cases of
# its word-by-word analysis (no words, words without tokens, repeats, bigrams across words).
PROBES = (
    "The crew was GREAT, thanks!! Best flight ever",
    "My bag is lost and nobody answers the phone. Worst airline.",
    "What time does flight 123 land in Boston?",
    "", "!!!", "qwzx", "good !!! flight", "thanks thanks thanks, thanks!", "no no no, NOT good",
    "  spaced\tout\n\nwords  ", "Ünïcödé ΟΔΟΣ café — I’m “fine”…", "flight-123 to New-York, ok?",
)
# Per text and vectoriser, how much text the explanation analyses looking for the words an
# n-gram spans; past that, what it has not placed is spread over every word (see owned_occurrences).
MAX_RUN_CHARACTERS = 100_000


def term_of(word: str) -> str:
    """A word as a term: lower case, without the punctuation around it ("Great!" -> "great")."""
    return word.lower().strip(string.punctuation) or word.lower()


@dataclass
class Scored:
    """Each text's class probabilities and winner, and each word's share of its winning label's score."""

    probabilities: list[list[float]]  # per text, one per class
    winners: list[int]  # per text
    terms: list[list[str]]  # per text, the term of each whitespace-separated word
    word_weights: list[list[float]]  # per text, each word's share of the winner's centred linear score

    def text(self, index: int) -> Scored:
        """The scoring of one of the texts alone."""
        return Scored([self.probabilities[index]], [self.winners[index]], [self.terms[index]],
                      [self.word_weights[index]])


@dataclass
class SentimentModel:
    """The fitted pipeline, and its coefficients centred across classes for explanations.

    Softmax ignores what all classes share, so a feature's centred weight for a
    class is exactly how far it moves that class's probability against the others.
    ``compiled`` is the accelerator when this model can use it (else None): built from
    the pipeline when the model is made or loaded, never saved.
    """

    pipeline: Pipeline
    centred_coef: np.ndarray  # (n_classes, n_features)
    labels: list[str] = field(init=False, repr=False, compare=False)  # made once, not per request
    absent: tuple[str, ...] = field(init=False, repr=False, compare=False)  # CLASSES the classifier lacks
    compiled: CompiledSentiment | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.labels = [str(label) for label in self.pipeline[-1].classes_]
        self.absent = tuple(label for label in CLASSES if label not in self.labels)
        self.compiled = accelerator(self)

    def __getstate__(self) -> dict:
        """Saved without the compiled form (rebuilt whenever the model loads), each vectoriser's
        vocabulary as one JSON list of its terms in column order: skops writes a dict as one node
        per word, which made the file 89 MB and its load take seconds."""
        pipeline = copy.deepcopy(self.pipeline)
        vocabularies = {}
        for name, vectorizer in pipeline.named_steps["features"].transformer_list:
            vocabularies[name] = json.dumps(sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get))
            del vectorizer.vocabulary_
        return {"pipeline": pipeline, "centred_coef": self.centred_coef, "vocabularies": vocabularies}

    def __setstate__(self, state: dict) -> None:
        vocabularies = state.pop("vocabularies", {})
        for name, vectorizer in state["pipeline"].named_steps["features"].transformer_list:
            if name in vocabularies:
                vectorizer.vocabulary_ = {term: column for column, term in enumerate(json.loads(vocabularies[name]))}
        self.__dict__.update(state)
        self.__post_init__()


def centred(coef: np.ndarray) -> np.ndarray:
    """The classifier's weights centred across classes (two classes: the one row as -w/2, +w/2)."""
    if len(coef) == 1:  # a binary logistic regression: sigmoid(z) is softmax(-z/2, z/2)
        coef = np.vstack([-coef / 2, coef / 2])
    return coef - coef.mean(axis=0)


def accelerator(model: SentimentModel) -> CompiledSentiment | None:
    """The compiled form of ``model`` if it reproduces ``score`` on the probe texts, else None (logged)."""
    from mlapi.sentiment import compiled  # imported here: it builds on this module, which never needs it

    refused = compiled.unsupported(model.pipeline)
    if refused:
        log.info("sentiment: scikit-learn serves every text; the compiled path does not reproduce %s",
                 "; ".join(refused))
        return None
    try:
        fast = compiled.CompiledSentiment(model.pipeline, model.centred_coef)
        probes = [*PROBES, vocabulary_probe(model.pipeline)]
        plain = score(model, probes)
        gap = max(difference(fast.score(probes), plain),
                  *(difference(fast.score([text]), plain.text(index)) for index, text in enumerate(probes)))
    except Exception:  # an accelerator that fails must not keep the model from serving
        log.exception("sentiment: scikit-learn serves every text; the compiled path failed on the probe texts")
        return None
    if gap > AGREEMENT:
        log.warning("sentiment: scikit-learn serves every text; the compiled path differs from it by %.3g", gap)
        return None
    return fast


def vocabulary_probe(pipeline: Pipeline) -> str:
    """A text of about 40 of the word vectoriser's own terms, so that a probe meets real features."""
    vocabulary = pipeline[0].transformer_list[0][1].vocabulary_
    return " ".join(itertools.islice(vocabulary, 0, None, max(1, len(vocabulary) // 40)))


def difference(one: Scored, other: Scored) -> float:
    """The largest gap between two scorings' probabilities and word weights; inf if winners or terms differ."""
    if one.winners != other.winners or one.terms != other.terms:
        return math.inf
    pairs = [*zip(one.probabilities, other.probabilities, strict=True),
             *zip(one.word_weights, other.word_weights, strict=True)]
    return max((abs(a - b) for left, right in pairs for a, b in zip(left, right, strict=True)), default=0.0)


def read_airline(data_dir: Path) -> pd.DataFrame:
    """The airline tweets as ``text`` and ``label``."""
    frame = pd.read_csv(data_dir / "airline_tweets.csv", usecols=["airline_sentiment", "text"], dtype=str)
    return frame.rename(columns={"airline_sentiment": "label"})


def read_uci(data_dir: Path) -> pd.DataFrame:
    """The UCI sentences as ``text`` and ``label`` (their quotes are literal, not CSV quoting)."""
    frames = [
        pd.read_csv(data_dir / "uci" / name, sep="\t", header=None, names=["text", "y"], quoting=csv.QUOTE_NONE)
        for name in UCI_FILES
    ]
    uci = pd.concat(frames, ignore_index=True)
    return pd.DataFrame({"text": uci.text, "label": uci.y.map({0: "negative", 1: "positive"})})


def build_pipeline(word: dict = WORD_NGRAMS, char: dict = CHAR_NGRAMS, c: float = C) -> Pipeline:
    """The untrained pipeline: both n-gram vectorisers (``TfidfVectorizer`` settings) side by side, then the
    classifier."""
    features = FeatureUnion([("word", TfidfVectorizer(**word)), ("char", TfidfVectorizer(**char))])
    return Pipeline([("features", features), ("classifier", LogisticRegression(C=c, max_iter=3000))])


def described(settings: dict) -> str:
    """A vectoriser's settings for the model card."""
    return "TF-IDF, " + ", ".join(f"{name}={value!r}" for name, value in settings.items())


def split(data_dir: Path, sample: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The rows to fit on (80% of the airline tweets plus the UCI sentences; a ``sample`` fraction of them),
    the held-out 20% of the tweets (stratified, seed 42) that every version is measured on, whatever the
    sample, and how many rows were read."""
    airline, uci = read_airline(data_dir), read_uci(data_dir)
    fit_part, test_part = train_test_split(airline, test_size=TEST_SIZE, random_state=SEED, stratify=airline.label)
    if sample < 1.0:
        fit_part = fit_part.sample(frac=sample, random_state=SEED)
        uci = uci.sample(frac=sample, random_state=SEED)
    return pd.concat([fit_part, uci], ignore_index=True), test_part, len(airline) + len(uci)


def measure(truth: pd.Series, predicted: np.ndarray, labels: list[str]) -> dict:
    """The card's held-out metrics of ``predicted`` labels against ``truth``."""
    report = classification_report(truth, predicted, output_dict=True, zero_division=0)
    return {
        "accuracy": round(accuracy_score(truth, predicted), 4),
        "macro_f1": round(f1_score(truth, predicted, average="macro"), 4),
        "f1_per_class": {label: round(report[label]["f1-score"], 4) for label in labels if label in report},
        "test_rows": len(truth),
        "test_set": "held-out 20% of the airline tweets (stratified, seed 42)",
    }


DATASET = {
    "name": "Twitter US Airline Sentiment + UCI Sentiment Labelled Sentences",
    "license": "CC BY-NC-SA 4.0 (airline tweets, non-commercial); CC BY 4.0 (UCI sentences)",
    "source": "CrowdFlower 'Data for Everyone' via Kaggle; Kotzias et al., KDD 2015, UCI ML Repository #331",
}


def train(data_dir: Path, sample: float = 1.0, step: Step = no_progress,
          word: dict = WORD_NGRAMS, char: dict = CHAR_NGRAMS) -> Trained:
    """Fit on the training split (plus the UCI sentences) and measure on the held-out tweets.

    ``word`` and ``char`` are the two vectorisers' ``TfidfVectorizer`` settings: any of them
    train and serve (through the compiled path when it reproduces them, else through ``score``).
    """
    step("read data")
    fit_rows, test_part, rows = split(data_dir, sample)

    step("fit")
    pipeline = build_pipeline(word, char).fit(fit_rows.text, fit_rows.label)
    coef = pipeline[-1].coef_
    model = SentimentModel(pipeline, centred(coef))

    step("evaluate")
    predicted = pipeline.predict(test_part.text)
    metrics = measure(test_part.label, predicted, model.labels)
    params = {
        "word_ngrams": described(word),
        "char_ngrams": described(char),
        "classifier": f"multinomial logistic regression, C={C}",
        "train_rows": len(fit_rows),
        "features": int(coef.shape[1]),
    }
    return Trained(model=model, metrics=metrics, dataset={**DATASET, "rows": rows}, params=params,
                   label_shares=shares(predicted))


def predict(model: SentimentModel, items: list[dict]) -> list[dict]:
    """Label, score, class probabilities and the decisive terms for each ``{"text": ...}``.

    The numbers come from the compiled path when the model has one, else from ``score``: the same
    numbers (to 1e-9, checked when the model was made or loaded), so the same results. A published
    model that is not linear (:mod:`mlapi.sentiment.publishing`) answers through its own ``predict``.
    """
    if type(model) is not SentimentModel:
        return model.predict(items)
    texts = [item["text"] for item in items]
    fast = model.compiled
    scored = fast.score(texts) if fast is not None else score(model, texts)
    labels = model.labels
    return [
        {
            "label": labels[winner],
            "score": round(probabilities[winner], 4),
            "probabilities": every_class({label: round(p, 4) for label, p in zip(labels, probabilities, strict=True)},
                                         model.absent),
            "explanation": explain(terms, weights),
            "explanation_method": "linear",
            "looks_english": looks_english(text),
        }
        for text, probabilities, winner, terms, weights in zip(
            texts, scored.probabilities, scored.winners, scored.terms, scored.word_weights, strict=True
        )
    ]


def every_class(probabilities: dict[str, float], absent: tuple[str, ...]) -> dict[str, float]:
    """``probabilities`` with 0 for each class the model lacks, in CLASSES order."""
    if not absent:
        return probabilities
    return {label: probabilities.get(label, 0.0) for label in CLASSES}


def score(model: SentimentModel, texts: list[str]) -> Scored:
    """Probabilities and each word's share of the winner's score, from the scikit-learn pipeline itself.

    A feature's push on the winner is its value (from the pipeline's own transform) times its
    centred weight; ``owned_occurrences`` says which words each of its occurrences came from,
    and the push is shared between those occurrences. scikit-learn's checks of its own parameters
    and of finite values are skipped (``FAST``): the texts passed the schema, and TF-IDF values are finite.
    """
    with config_context(**FAST):
        features = model.pipeline[:-1].transform(texts).tocsr()
        probabilities = model.pipeline[-1].predict_proba(features)
    winners = probabilities.argmax(axis=1)
    blocks = text_blocks(model.pipeline)
    terms, word_weights = [], []
    for row, text in enumerate(texts):
        words = text.split()
        columns = features.indices[features.indptr[row]:features.indptr[row + 1]]
        values = features.data[features.indptr[row]:features.indptr[row + 1]]
        pushes = dict(zip(columns.tolist(), (values * model.centred_coef[winners[row], columns]).tolist(), strict=True))
        weights = [0.0] * len(words)
        for analyse, vocabulary, offset in blocks:
            for column, owners in owned_occurrences(analyse, vocabulary, text, words).items():
                push, occurrences = pushes.pop(offset + column, 0.0), sum(owners.values())
                for word, count in owners.items():
                    weights[word] += push * count / occurrences
        if words and pushes:  # features no run of words gave (see owned_occurrences): every word's alike
            spread = sum(pushes.values()) / len(words)
            weights = [weight + spread for weight in weights]
        terms.append([term_of(word) for word in words])
        word_weights.append(weights)
    return Scored(probabilities.tolist(), winners.tolist(), terms, word_weights)


def text_blocks(pipeline: Pipeline) -> list[tuple[Callable[[str], list[str]], dict[str, int], int]]:
    """Each vectoriser of the pipeline's first step (one, or a feature union of several): its analyser, its
    vocabulary and its first column."""
    features = pipeline[0]
    vectorizers = [v for _, v in features.transformer_list] if isinstance(features, FeatureUnion) else [features]
    blocks, offset = [], 0
    for vectorizer in vectorizers:
        if vectorizer in ("drop", None):
            continue
        blocks.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, offset))
        offset += len(vectorizer.vocabulary_)
    return blocks


def owned_occurrences(analyse: Callable[[str], list[str]], vocabulary: dict[str, int], text: str,
                      words: list[str]) -> dict[int, dict[int, float]]:
    """Which of ``words`` (``text.split()``) each in-vocabulary n-gram of ``text`` came from.

    Returns, per vocabulary column, the number of its occurrences each word owns. An n-gram that
    a word gives analysed alone belongs to that word. One that only a run of words gives (a word
    bigram across two words, a character n-gram over a space) belongs to the shortest such run,
    shared equally by its words. Runs leave out the words that give nothing alone when that
    changes nothing: in "good !!! flight" the bigram "good flight" is half "good"'s, half
    "flight"'s. Runs grow until every occurrence is placed or MAX_RUN_CHARACTERS of text have
    been analysed; what stays unplaced is in no entry.
    """
    def counts(part: str) -> Counter[int]:
        return Counter(column for gram in analyse(part) if (column := vocabulary.get(gram)) is not None)

    whole = counts(text)
    if not whole:
        return {}
    alone = [analyse(word) for word in words]
    sequence = [index for index, grams in enumerate(alone) if grams]
    reachable = counts(" ".join(words[index] for index in sequence))
    if reachable != whole:  # leaving them out changes the n-grams: runs take every word
        sequence = list(range(len(words)))
        reachable = counts(" ".join(words))
    owned: defaultdict[int, dict[int, float]] = defaultdict(dict)

    def give(found: dict[int, int], run: list[int]) -> None:
        for column, count in found.items():
            for word in run:
                owned[column][word] = owned[column].get(word, 0.0) + count / len(run)

    # runs[start] counts what the run of `length` words from sequence[start] gives; shorter: one word less
    runs = [Counter(column for gram in alone[index] if (column := vocabulary.get(gram)) is not None)
            for index in sequence]
    placed: Counter[int] = Counter()
    for index, found in zip(sequence, runs, strict=True):
        give(found, [index])
        placed.update(found)
    missing = (whole & reachable) - placed
    shorter = [Counter()] * (len(sequence) + 1)
    length, budget = 1, MAX_RUN_CHARACTERS
    while missing and length < len(sequence) and budget > 0:
        length += 1
        longer = []
        for start in range(len(sequence) - length + 1):
            run = sequence[start:start + length]
            part = " ".join(words[index] for index in run)
            budget -= len(part)
            found = counts(part)
            longer.append(found)
            # Occurrences spanning the whole run: what it gives beyond its two runs one word shorter.
            spanning = {column: exact for column, count in found.items() if column in missing
                        and (exact := count - runs[start][column] - runs[start + 1][column]
                             + shorter[start + 1][column]) > 0}
            give(spanning, run)
            missing -= Counter(spanning)
            if budget <= 0:
                break
        shorter, runs = runs, longer
    return owned


def explain(terms: list[str], word_weights: list[float]) -> list[dict]:
    """The TOP_TERMS terms that moved the decision most, each word's share added up per term.

    Each feature's contribution (its TF-IDF value times its centred weight) is
    split between the words it came from, in proportion to its occurrences:
    a character n-gram belongs to the one word it was cut from, a word bigram
    half to each word. The weights of all words add up to the label's score
    minus its intercept.
    """
    totals: dict[str, float] = {}
    for term, weight in zip(terms, word_weights, strict=True):
        totals[term] = totals.get(term, 0.0) + weight
    ranked = sorted(totals.items(), key=lambda item: abs(item[1]), reverse=True)
    return [{"term": term, "weight": round(weight, 4)} for term, weight in ranked[:TOP_TERMS] if abs(weight) >= 1e-4]


def outcome(result: dict) -> tuple[str, float]:
    """The predicted label and its probability, for monitoring."""
    return result["label"], result["score"]

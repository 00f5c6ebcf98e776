"""Sentiment: word and character n-gram TF-IDF with a multinomial logistic regression.

Trained on the Twitter US Airline Sentiment tweets (negative / neutral / positive)
plus the UCI labelled sentences (product, movie and restaurant reviews: extra
positive and negative vocabulary beyond airlines). Measured on a fixed held-out
20% of the airline tweets only. No Flask here: run ``train`` and ``predict`` alone.
"""
from __future__ import annotations

import bisect
import csv
import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from mlapi.usecase import Step, Trained, no_progress, shares

WORD_NGRAMS = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}
CHAR_NGRAMS = {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2, "sublinear_tf": True}
C = 4.0
TEST_SIZE = 0.2
SEED = 42
TOP_TERMS = 8
UCI_FILES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")
WHITESPACE_WORD = re.compile(r"\S+")


@dataclass
class SentimentModel:
    """The fitted pipeline, and its coefficients centred across classes for explanations.

    Softmax ignores what all classes share, so a feature's centred weight for a
    class is exactly how far it moves that class's probability against the others.
    """

    pipeline: Pipeline
    centred_coef: np.ndarray  # (n_classes, n_features)

    @property
    def labels(self) -> list[str]:
        return list(self.pipeline[-1].classes_)


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


def build_pipeline() -> Pipeline:
    """The untrained pipeline: both n-gram vectorisers side by side, then the classifier."""
    features = FeatureUnion([("word", TfidfVectorizer(**WORD_NGRAMS)), ("char", TfidfVectorizer(**CHAR_NGRAMS))])
    return Pipeline([("features", features), ("classifier", LogisticRegression(C=C, max_iter=3000))])


def train(data_dir: Path, sample: float = 1.0, step: Step = no_progress) -> Trained:
    """Fit on the training split (plus the UCI sentences) and measure on the held-out tweets."""
    step("read data")
    airline, uci = read_airline(data_dir), read_uci(data_dir)
    if sample < 1.0:
        airline = airline.sample(frac=sample, random_state=SEED)
        uci = uci.sample(frac=sample, random_state=SEED)
    fit_part, test_part = train_test_split(airline, test_size=TEST_SIZE, random_state=SEED, stratify=airline.label)
    fit_rows = pd.concat([fit_part, uci], ignore_index=True)

    step("fit")
    pipeline = build_pipeline().fit(fit_rows.text, fit_rows.label)
    coef = pipeline[-1].coef_
    model = SentimentModel(pipeline, coef - coef.mean(axis=0))

    step("evaluate")
    predicted = pipeline.predict(test_part.text)
    report = classification_report(test_part.label, predicted, output_dict=True, zero_division=0)
    metrics = {
        "accuracy": round(accuracy_score(test_part.label, predicted), 4),
        "macro_f1": round(f1_score(test_part.label, predicted, average="macro"), 4),
        "f1_per_class": {label: round(report[label]["f1-score"], 4) for label in model.labels},
        "test_rows": len(test_part),
        "test_set": "held-out 20% of the airline tweets (stratified, seed 42)",
    }
    dataset = {
        "name": "Twitter US Airline Sentiment + UCI Sentiment Labelled Sentences",
        "rows": len(airline) + len(uci),
        "license": "CC BY-NC-SA 4.0 (airline tweets, non-commercial); CC BY 4.0 (UCI sentences)",
        "source": "CrowdFlower 'Data for Everyone' via Kaggle; Kotzias et al., KDD 2015, UCI ML Repository #331",
    }
    params = {
        "word_ngrams": "TF-IDF, 1-2 words, min_df 2, sublinear tf",
        "char_ngrams": "TF-IDF, 2-5 characters within words, min_df 2, sublinear tf",
        "classifier": f"multinomial logistic regression, C={C}",
        "train_rows": len(fit_rows),
        "features": int(coef.shape[1]),
    }
    return Trained(model=model, metrics=metrics, dataset=dataset, params=params, label_shares=shares(predicted))


def predict(model: SentimentModel, items: list[dict]) -> list[dict]:
    """Label, score, class probabilities and the decisive terms for each ``{"text": ...}``."""
    texts = [item["text"] for item in items]
    features = model.pipeline[:-1].transform(texts).tocsr()
    probabilities = model.pipeline[-1].predict_proba(features)
    labels = model.labels
    winners = probabilities.argmax(axis=1)
    results = []
    for row, (text, winner) in enumerate(zip(texts, winners, strict=True)):
        results.append({
            "label": labels[winner],
            "score": round(float(probabilities[row, winner]), 4),
            "probabilities": {label: round(float(p), 4) for label, p in zip(labels, probabilities[row], strict=True)},
            "explanation": explain(model, text, features[row], winner),
        })
    return results


def explain(model: SentimentModel, text: str, row, label_index: int) -> list[dict]:
    """The words that moved the decision most, with their exact share of the linear score.

    Each feature's contribution (its TF-IDF value times its centred weight) is
    split between the words it came from, in proportion to its occurrences:
    a character n-gram belongs to the one word it was cut from, a word bigram
    half to each word. The weights of all words add up to the label's score
    minus its intercept.
    """
    weights = word_weights(model, text, row, label_index)
    terms: dict[str, float] = {}
    for word, weight in zip(WHITESPACE_WORD.findall(text.lower()), weights, strict=True):
        term = term_of(word)
        terms[term] = terms.get(term, 0.0) + float(weight)
    ranked = sorted(terms.items(), key=lambda item: abs(item[1]), reverse=True)
    return [{"term": term, "weight": round(weight, 4)} for term, weight in ranked[:TOP_TERMS] if abs(weight) >= 1e-4]


def term_of(word: str) -> str:
    """A word as a term: lower case, without the punctuation around it ("Great!" -> "great")."""
    return word.lower().strip(string.punctuation) or word.lower()


def word_weights(model: SentimentModel, text: str, row, label_index: int) -> np.ndarray:
    """Each whitespace-separated word's share of the linear score for ``label_index``."""
    lowered = text.lower()
    spans = [match.start() for match in WHITESPACE_WORD.finditer(lowered)]
    words = WHITESPACE_WORD.findall(lowered)
    feature_ids, word_ids, shares = occurrences(model, lowered, spans, words)
    if not feature_ids:
        return np.zeros(len(words))
    feature_ids = np.asarray(feature_ids)
    contribution = row.data * model.centred_coef[label_index, row.indices]
    position = np.searchsorted(row.indices, feature_ids)
    counts = np.bincount(position, weights=shares, minlength=len(row.indices))
    portions = contribution[position] * np.asarray(shares) / counts[position]
    return np.bincount(word_ids, weights=portions, minlength=len(words))


def occurrences(model: SentimentModel, lowered: str, spans: list[int], words: list[str]):
    """Every in-vocabulary n-gram occurrence as (feature id, word index, share of it)."""
    word_vec, char_vec = (vectorizer for _, vectorizer in model.pipeline[0].transformer_list)
    word_vocab, char_vocab = word_vec.vocabulary_, char_vec.vocabulary_
    offset = len(word_vocab)
    feature_ids: list[int] = []
    word_ids: list[int] = []
    shares: list[float] = []

    def add(feature: int, word: int, share: float = 1.0) -> None:
        feature_ids.append(feature)
        word_ids.append(word)
        shares.append(share)

    tokens = [
        (match.group(), bisect.bisect_right(spans, match.start()) - 1)
        for match in re.finditer(word_vec.token_pattern, lowered)
    ]
    for j, (token, word) in enumerate(tokens):
        if token in word_vocab:
            add(word_vocab[token], word)
        if j + 1 < len(tokens) and (bigram := f"{token} {tokens[j + 1][0]}") in word_vocab:
            add(word_vocab[bigram], word, 0.5)
            add(word_vocab[bigram], tokens[j + 1][1], 0.5)

    char_analyzer = char_vec.build_analyzer()
    for index, word in enumerate(words):
        for gram in char_analyzer(word):
            if gram in char_vocab:
                add(offset + char_vocab[gram], index)
    return feature_ids, word_ids, shares


def outcome(result: dict) -> tuple[str, float]:
    """The predicted label and its probability, for monitoring."""
    return result["label"], result["score"]

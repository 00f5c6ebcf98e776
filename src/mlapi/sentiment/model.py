"""Sentiment: word and character n-gram TF-IDF with a multinomial logistic regression.

Trained on the Twitter US Airline Sentiment tweets (negative / neutral / positive)
plus the UCI labelled sentences (product, movie and restaurant reviews: extra
positive and negative vocabulary beyond airlines). Measured on a fixed held-out
20% of the airline tweets only. No Flask here: run ``train`` and ``predict`` alone.
"""
from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from mlapi.sentiment.compiled import CompiledSentiment
from mlapi.usecase import Step, Trained, no_progress, shares

WORD_NGRAMS = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}
CHAR_NGRAMS = {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2, "sublinear_tf": True}
C = 4.0
TEST_SIZE = 0.2
SEED = 42
TOP_TERMS = 8
UCI_FILES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")


@dataclass
class SentimentModel:
    """The fitted pipeline, and its coefficients centred across classes for explanations.

    Softmax ignores what all classes share, so a feature's centred weight for a
    class is exactly how far it moves that class's probability against the others.
    Predictions go through ``compiled``, built from the pipeline at load, never saved.
    """

    pipeline: Pipeline
    centred_coef: np.ndarray  # (n_classes, n_features)
    compiled: CompiledSentiment = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.compiled = CompiledSentiment(self.pipeline, self.centred_coef)

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

    @property
    def labels(self) -> list[str]:
        return self.compiled.labels


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
    scored = model.compiled.score([item["text"] for item in items])
    labels = model.labels
    return [
        {
            "label": labels[winner],
            "score": round(probabilities[winner], 4),
            "probabilities": {label: round(p, 4) for label, p in zip(labels, probabilities, strict=True)},
            "explanation": explain(terms, weights),
        }
        for probabilities, winner, terms, weights in zip(
            scored.probabilities, scored.winners, scored.terms, scored.word_weights, strict=True
        )
    ]


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

"""Published sentiment models: the contract, the check on the held-out tweets, and how they serve.

A linear model over n-gram counts (a Pipeline of a Count/TfidfVectorizer, or a FeatureUnion of
them, then steps that keep the columns, then a classifier with ``coef_``) serves as a
:class:`SentimentModel`: the same exact explanation as the trained versions. Any other model
explains by occlusion: each term's weight is how much the label's probability drops when the
text is sent without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import config_context
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import MaxAbsScaler, Normalizer

from mlapi.publishing.estimators import described
from mlapi.sentiment.language import looks_english
from mlapi.sentiment.model import (
    CLASSES,
    DATASET,
    FAST,
    TOP_TERMS,
    SentimentModel,
    centred,
    every_class,
    measure,
    split,
    term_of,
)
from mlapi.usecase import ContractBroken, Evaluation, Publishing, shares
from mlapi.words import N_

SAME_COLUMNS = (TfidfTransformer, Normalizer, MaxAbsScaler)  # steps between vectoriser and classifier
OCCLUDED_TERMS = 64  # distinct terms of one text an occlusion explanation weighs, the first ones
OCCLUSION_BUDGET = 4096  # texts without a term, per request: a batch shares them out

CONTRACT = N_(
    "A fitted scikit-learn classifier, usually a Pipeline, whose predict_proba takes a list of raw texts "
    "and whose classes_ are two or three of 'negative', 'neutral' and 'positive'. It is measured on the "
    "held-out 20% of data/sentiment/airline_tweets.csv (train_test_split with test_size=0.2, "
    "random_state=42, stratify=airline_sentiment): train on the rest, and on data/sentiment/uci/ if you like."
)


@dataclass
class OccludedSentiment:
    """A published model that is not linear over n-grams: explained by leaving each term out."""

    estimator: Any
    labels: list[str] = field(init=False)
    absent: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.labels = [str(label) for label in self.estimator.classes_]
        self.absent = tuple(label for label in CLASSES if label not in self.labels)

    def predict(self, items: list[dict]) -> list[dict]:
        """The trained versions' answer, each term weighed by the drop of the label's probability without it."""
        texts = [item["text"] for item in items]
        per_text = max(1, min(OCCLUDED_TERMS, OCCLUSION_BUDGET // max(len(texts), 1)))
        variants, owners = [], []
        for row, text in enumerate(texts):
            words = text.split()
            terms = [term_of(word) for word in words]
            for term in list(dict.fromkeys(terms))[:per_text]:
                variants.append(" ".join(word for word, other in zip(words, terms, strict=True) if other != term))
                owners.append((row, term))
        with config_context(**FAST):
            probabilities = np.asarray(self.estimator.predict_proba(texts + variants), dtype=float)
        base, without = probabilities[:len(texts)], probabilities[len(texts):]
        winners = base.argmax(axis=1)
        drops: list[dict[str, float]] = [{} for _ in texts]
        for (row, term), probability in zip(owners, without, strict=True):
            drops[row][term] = float(base[row, winners[row]] - probability[winners[row]])
        return [
            {
                "label": self.labels[winner],
                "score": round(float(row[winner]), 4),
                "probabilities": every_class({label: round(float(p), 4) for label, p in zip(self.labels, row,
                                                                                            strict=True)},
                                             self.absent),
                "explanation": [{"term": term, "weight": round(weight, 4)} for term, weight in
                                sorted(dropped.items(), key=lambda item: abs(item[1]), reverse=True)[:TOP_TERMS]
                                if abs(weight) >= 1e-4],
                "explanation_method": "occlusion",
                "looks_english": looks_english(text),
            }
            for text, row, winner, dropped in zip(texts, base, winners, drops, strict=True)
        ]


def linear_form(estimator: Any) -> SentimentModel | None:
    """``estimator`` as a :class:`SentimentModel` when its decision is linear in its n-gram columns, else None."""
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return None
    first, classifier = estimator[0], estimator[-1]
    vectorizers = [v for _, v in first.transformer_list] if isinstance(first, FeatureUnion) else [first]
    if not all(isinstance(vectorizer, CountVectorizer) for vectorizer in vectorizers):
        return None
    if not all(isinstance(step, SAME_COLUMNS) for _, step in estimator.steps[1:-1]):
        return None
    coef = getattr(classifier, "coef_", None)
    width = sum(len(vectorizer.vocabulary_) for vectorizer in vectorizers)
    if not isinstance(coef, np.ndarray) or coef.ndim != 2 or coef.shape[1] != width:
        return None
    if coef.shape[0] not in (1, len(classifier.classes_)):
        return None
    return SentimentModel(estimator, centred(coef.astype(float)))


def check(estimator: Any, items: list[dict]) -> None:
    """The contract: class probabilities over the sentiment labels, for a list of texts (the example's)."""
    if not hasattr(estimator, "predict_proba"):
        raise ContractBroken(N_("The model (a {model_type}) has no predict_proba: sentiment needs a classifier that "
                                "gives class probabilities, such as LogisticRegression.").format(
                                    model_type=type(estimator).__name__))
    classes = [str(label) for label in getattr(estimator, "classes_", [])]
    wrong = [label for label in classes if label not in CLASSES]
    if wrong or len(classes) < 2:
        if wrong:
            message = N_("The model's classes are {classes}; sentiment's are two or three of {allowed} (not "
                         "{wrong}).")
        else:
            message = N_("The model's classes are {classes}; sentiment's are two or three of {allowed}.")
        raise ContractBroken(message.format(classes=classes, allowed=", ".join(CLASSES), wrong=", ".join(wrong)))
    probabilities = np.asarray(estimator.predict_proba([item["text"] for item in items]))
    if probabilities.shape != (len(items), len(classes)):
        raise ContractBroken(N_("predict_proba gave an array of shape {shape} for {rows} text(s); expected ({rows}, "
                                "{width}).").format(shape=probabilities.shape, rows=len(items), width=len(classes)))


def evaluate(estimator: Any, data_dir: Path) -> Evaluation:
    """The trained versions' metrics, on the same held-out tweets; the label is the most probable class."""
    _, test_part, rows = split(data_dir)
    labels = np.array([str(label) for label in estimator.classes_])
    predicted = labels[np.asarray(estimator.predict_proba(test_part.text.tolist())).argmax(axis=1)]
    method = "linear" if linear_form(estimator) is not None else "occlusion"
    return Evaluation(metrics=measure(test_part.label, predicted, list(CLASSES)), label_shares=shares(predicted),
                      description=described(estimator), dataset={**DATASET, "rows": rows},
                      explanation_method=method)


def serve(estimator: Any, serving: dict[str, Any]) -> SentimentModel | OccludedSentiment:
    """What ``predict`` takes: the exact linear form where there is one, else occlusion."""
    return linear_form(estimator) or OccludedSentiment(estimator)


publishing = Publishing(contract=CONTRACT, check=check, evaluate=evaluate, serve=serve)

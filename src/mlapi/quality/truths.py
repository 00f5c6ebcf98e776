"""What feedback is for each use case: the field that carries the true outcome, the values it takes, what one
item adds to the metrics, and the metrics of a version from those sums.

A feedback row keeps, beside the prediction and the truth, what it adds up to (:class:`Judged`): its true and
predicted class for a classifier, whether the watched movie was recommended, the errors of a forecast. A
window's quality is then a ``GROUP BY`` in the database (:class:`Group` rows), not a read of every row.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from mlapi.demand.model import MAX_SALES
from mlapi.sentiment.schemas import LABELS as SENTIMENT_LABELS
from mlapi.words import N_
from mlapi.xray.schemas import LABELS as XRAY_LABELS

TRUTH_FIELDS = ("label", "is_fraud", "sales", "movie_id")  # every field that can carry a true outcome
DIGITS = 4  # metrics are rounded like the cards'


class Rejected(ValueError):
    """A true outcome its use case does not take; the message says what it takes."""


class Judged(NamedTuple):
    """What one feedback item adds to its version's metrics (None where its use case adds nothing)."""

    true_class: str | None = None
    predicted_class: str | None = None
    hit: bool | None = None
    abs_error: float | None = None  # demand: the sum of |actual - forecast| over the weeks given
    weeks: int | None = None
    pct_error: float | None = None  # demand: the sum of |actual - forecast| / |actual| over weeks with sales >= 1
    pct_weeks: int | None = None


class Group(NamedTuple):
    """Feedback items of one version added up: per true and predicted class for a classifier, else all of them."""

    version: str | None
    true_class: str | None
    predicted_class: str | None
    count: int
    hits: int
    abs_error: float
    weeks: int
    pct_error: float
    pct_weeks: int


def ratio(part: float, whole: float) -> float | None:
    """``part / whole`` rounded, or None when nothing was counted."""
    return round(part / whole, DIGITS) if whole else None


def is_sales(value: Any) -> bool:
    """A JSON number within the sales a history may have (an int compares exactly, never converted)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MAX_SALES


class Truth:
    """One use case's feedback. ``field`` carries the true outcome; ``metrics`` are the names it measures."""

    field: str
    metrics: tuple[str, ...]
    confused = False  # whether it has a confusion matrix

    def accepts(self, predicted: Any) -> str:
        """In words, what ``field`` takes for this prediction."""
        raise NotImplementedError

    def parse(self, value: Any, predicted: Any) -> Any:
        """The true outcome as stored (JSON).

        :raises Rejected: a value this use case does not take.
        """
        raise NotImplementedError

    def judged(self, predicted: Any, truth: Any) -> Judged:
        raise NotImplementedError

    def measure(self, groups: list[Group]) -> tuple[dict[str, float | None], dict[str, dict[str, int]] | None]:
        """The metrics of one version's groups, and its confusion matrix (None where the use case has none)."""
        raise NotImplementedError


class Labels(Truth):
    """A classifier whose truth is one of its class names: accuracy and macro-F1 (sentiment)."""

    field = "label"
    metrics = ("accuracy", "macro_f1")
    confused = True

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels

    def accepts(self, predicted: Any) -> str:
        return N_("Give 'label' as one of {labels}.").format(labels=", ".join(self.labels))

    def parse(self, value: Any, predicted: Any) -> Any:
        if type(value) is not str or value not in self.labels:
            raise Rejected(self.accepts(predicted))
        return value

    def true_class(self, truth: Any) -> str:
        return truth

    def predicted_class(self, predicted: Any) -> str:
        return predicted["label"]

    def judged(self, predicted: Any, truth: Any) -> Judged:
        return Judged(true_class=self.true_class(truth), predicted_class=self.predicted_class(predicted))

    def confusion(self, groups: list[Group]) -> dict[str, dict[str, int]]:
        """``{true class: {predicted class: count}}`` over every class (and any other a model answered)."""
        seen = {name for group in groups for name in (group.true_class, group.predicted_class) if name is not None}
        classes = [*self.labels, *sorted(seen - set(self.labels))]
        matrix = {true: dict.fromkeys(classes, 0) for true in classes}
        for group in groups:
            if group.true_class is not None and group.predicted_class is not None:
                matrix[group.true_class][group.predicted_class] += group.count
        return matrix

    def measure(self, groups: list[Group]) -> tuple[dict[str, float | None], dict[str, dict[str, int]] | None]:
        matrix = self.confusion(groups)
        return self.figures(matrix), matrix

    def figures(self, matrix: dict[str, dict[str, int]]) -> dict[str, float | None]:
        total = sum(sum(row.values()) for row in matrix.values())
        correct = sum(matrix[name][name] for name in matrix)
        scores = []
        for name in matrix:  # macro-F1 over the classes that were true or predicted at least once
            true_positive = matrix[name][name]
            actual = sum(matrix[name].values())
            predicted = sum(row[name] for row in matrix.values())
            if actual + predicted:
                scores.append(2 * true_positive / (actual + predicted))
        return {"accuracy": ratio(correct, total), "macro_f1": ratio(sum(scores), len(scores))}


class Diagnosis(Labels):
    """A two-class classifier with a positive class: sensitivity, specificity and accuracy (xray)."""

    metrics = ("sensitivity", "specificity", "accuracy")

    def __init__(self, labels: tuple[str, ...], positive: str) -> None:
        super().__init__(labels)
        self.positive = positive
        self.negative = next(label for label in labels if label != positive)

    def figures(self, matrix: dict[str, dict[str, int]]) -> dict[str, float | None]:
        positive, negative = matrix[self.positive], matrix[self.negative]
        total = sum(sum(row.values()) for row in matrix.values())
        return {"sensitivity": ratio(positive[self.positive], sum(positive.values())),
                "specificity": ratio(negative[self.negative], sum(negative.values())),
                "accuracy": ratio(sum(matrix[name][name] for name in matrix), total)}


class Flag(Labels):
    """A yes-or-no decision at a threshold, the truth a boolean: precision and recall of the flag (fraud)."""

    field = "is_fraud"
    metrics = ("precision", "recall")

    def __init__(self) -> None:
        super().__init__(("legitimate", "fraud"))

    def accepts(self, predicted: Any) -> str:
        return N_("Give 'is_fraud' as true or false.")

    def parse(self, value: Any, predicted: Any) -> Any:
        if type(value) is not bool:
            raise Rejected(self.accepts(predicted))
        return value

    def true_class(self, truth: Any) -> str:
        return self.labels[bool(truth)]

    def predicted_class(self, predicted: Any) -> str:
        return self.labels[bool(predicted["is_fraud"])]

    def figures(self, matrix: dict[str, dict[str, int]]) -> dict[str, float | None]:
        frauds, legitimate = matrix["fraud"], matrix["legitimate"]
        flagged = frauds["fraud"] + legitimate["fraud"]
        return {"precision": ratio(frauds["fraud"], flagged), "recall": ratio(frauds["fraud"], sum(frauds.values()))}


class Forecast(Truth):
    """A forecast of weekly sales, the truth the real sales of its first weeks: MAPE and MAE (demand)."""

    field = "sales"
    metrics = ("mape", "mae")

    def accepts(self, predicted: Any) -> str:
        return N_("Give 'sales' as a number (the real sales of the first forecast week) or a list of 1 to {weeks} "
                  "numbers (the forecast weeks in order).").format(weeks=len(predicted))

    def parse(self, value: Any, predicted: Any) -> Any:
        weeks = [value] if is_sales(value) else value
        if not isinstance(weeks, list) or not 0 < len(weeks) <= len(predicted) or not all(map(is_sales, weeks)):
            raise Rejected(self.accepts(predicted))
        return [float(week) for week in weeks]

    def judged(self, predicted: Any, truth: Any) -> Judged:
        errors = [(actual, abs(actual - week["sales"])) for actual, week in zip(truth, predicted, strict=False)]
        relative = [error / abs(actual) for actual, error in errors if abs(actual) >= 1]  # a cent would blow it up
        return Judged(abs_error=sum(error for _, error in errors), weeks=len(errors), pct_error=sum(relative),
                      pct_weeks=len(relative))

    def measure(self, groups: list[Group]) -> tuple[dict[str, float | None], None]:
        return {"mape": ratio(sum(group.pct_error for group in groups), sum(group.pct_weeks for group in groups)),
                "mae": ratio(sum(group.abs_error for group in groups), sum(group.weeks for group in groups))}, None


class Watched(Truth):
    """Recommendations, the truth the movie watched: the hit rate (recommend)."""

    field = "movie_id"
    metrics = ("hit_rate",)

    def accepts(self, predicted: Any) -> str:
        return N_("Give 'movie_id' as the id of the movie watched, a whole number from 1.")

    def parse(self, value: Any, predicted: Any) -> Any:
        if type(value) is not int or value < 1:
            raise Rejected(self.accepts(predicted))
        return value

    def judged(self, predicted: Any, truth: Any) -> Judged:
        return Judged(hit=truth in predicted)

    def measure(self, groups: list[Group]) -> tuple[dict[str, float | None], None]:
        return {"hit_rate": ratio(sum(group.hits for group in groups), sum(group.count for group in groups))}, None


TRUTHS: dict[str, Truth] = {
    "sentiment": Labels(SENTIMENT_LABELS),
    "xray": Diagnosis(XRAY_LABELS, positive="pneumonia"),
    "fraud": Flag(),
    "demand": Forecast(),
    "recommend": Watched(),
}

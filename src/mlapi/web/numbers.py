"""Numbers a person reads on a page, written the page's way: 25,173.29 and 99.8% in English, 25.173,29 and 99,8%
in Brazilian Portuguese (Babel's patterns with the locale's symbols), and the metrics' names. Numbers in code
(JSON, curl), in HTML attributes a browser reads (SVG coordinates, widths, a meter's value) and in what a form
sends stay plain. Each is a Jinja filter (registered by :func:`mlapi.web.i18n.init_app`).
"""
from __future__ import annotations

import math
from datetime import date
from typing import Any

from flask_babel import format_date, format_decimal, format_percent, gettext

from mlapi.words import N_


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def decimals(digits: int, most: int | None = None) -> str:
    """A pattern's decimals: ``digits`` always written, up to ``most`` when there are more."""
    most = max(digits, most or 0)
    return "." + "0" * digits + "#" * (most - digits) if most else ""


def number(value: Any, digits: int = 0, most: int | None = None) -> Any:
    """``value`` with ``digits`` decimals (or from ``digits`` up to ``most``), grouped: 25,173.29 / 25.173,29.
    What is not a number (a dash, None) stays as it is."""
    if not is_number(value):
        return value
    return format_decimal(value, "#,##0" + decimals(digits, most))


def signed(value: Any, digits: int = 0) -> Any:
    """``value`` with its sign always written and ``digits`` decimals: +0.412, -1.250 / +0,412, -1,250."""
    if not is_number(value):
        return value
    pattern = "#,##0" + decimals(digits)
    return format_decimal(value, f"+{pattern};-{pattern}")


def significant(value: Any, digits: int = 6) -> Any:
    """``value`` with up to ``digits`` significant digits, never in exponent form: -1.35981 / -1,35981."""
    if not is_number(value) or not math.isfinite(value):
        return value
    return format_decimal(value, "@" + "#" * (digits - 1))


def percent(value: Any, digits: int = 0) -> Any:
    """A share (0.998) as a percentage with ``digits`` decimals: 99.8% / 99,8%."""
    if not is_number(value):
        return value
    return format_percent(value, "#,##0" + decimals(digits) + "%")


def day(value: Any, style: str = "medium") -> Any:
    """A date (or an ISO date's text) as the page's language writes it: Oct 26, 2012 / 26 de out. de 2012."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return format_date(value, style) if isinstance(value, date) else value


# What a person reads for each metric of the cards and of live quality (their keys, the API's, stay as they are).
# A name with "%" writes it "%%": a name is said through the catalog's python-format.
METRIC_NAMES = {
    "accuracy": N_("accuracy"), "macro_f1": N_("macro F1"), "f1": N_("F1"), "test_rows": N_("test rows"),
    "roc_auc": N_("ROC AUC"), "pr_auc": N_("PR AUC"), "sensitivity": N_("sensitivity"),
    "specificity": N_("specificity"), "precision": N_("precision"), "recall": N_("recall"),
    "threshold": N_("threshold"), "brier": N_("Brier score"), "log_loss": N_("log loss"),
    "val_accuracy": N_("validation accuracy"), "val_roc_auc": N_("validation ROC AUC"),
    "val_sensitivity": N_("validation sensitivity"), "val_specificity": N_("validation specificity"),
    "test_familiar_share": N_("familiar share (test)"), "test_frauds": N_("test frauds"),
    "precision_at_real_ratio": N_("precision at the real ratio"),
    "mase": N_("MASE"), "mase_seasonal_naive": N_("MASE, seasonal naive"), "coverage_80": N_("80%% coverage"),
    "mae": N_("MAE"), "mape": N_("MAPE"), "smape": N_("sMAPE"), "mse": N_("MSE"), "rmse": N_("RMSE"),
    "model_hr@10": N_("HR@10"), "model_ndcg@10": N_("NDCG@10"), "hit_rate": N_("hit rate"),
    "all_time_popularity_hr@10": N_("HR@10, all-time popularity"),
    "all_time_popularity_ndcg@10": N_("NDCG@10, all-time popularity"),
    "recent_popularity_hr@10": N_("HR@10, recent popularity"),
    "recent_popularity_ndcg@10": N_("NDCG@10, recent popularity"),
    "hr@10_vs_all_time_popularity": N_("HR@10 vs all-time popularity"),
    "hr@10_vs_recent_popularity": N_("HR@10 vs recent popularity"),
    "test_users": N_("test users"),
}


def metric_name(key: str) -> str:
    """A metric's name as a person reads it, in the page's language: ``macro_f1`` -> macro F1 / F1 macro; a metric
    without a name (a published card's own) as its key with spaces."""
    english = METRIC_NAMES.get(key)
    return gettext(english) % {} if english else str(key).replace("_", " ")

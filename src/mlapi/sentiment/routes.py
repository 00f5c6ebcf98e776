"""POST /api/v1/sentiment and the /sentiment page, both through ``service.predict``."""
from __future__ import annotations

import re

from flask import jsonify, render_template, request

from mlapi import service
from mlapi.pages import curl_command, page_prediction, pretty_json
from mlapi.sentiment import bp
from mlapi.sentiment.compiled import term_of

API_PATH = "/api/v1/sentiment"

EXAMPLES = {
    "Positive": "Thank you for the upgrade, the crew was wonderful and we landed early!",
    "Neutral": "What time does the first flight from Boston to Chicago leave tomorrow?",
    "Negative": "Worst experience ever. Three hours on the tarmac and not a word from anyone.",
    "Help-desk complaint": (
        "I have been on hold for 2 hours to rebook my cancelled flight and my bag is still missing. "
        "Can someone please call me back?"
    ),
}


@bp.post(API_PATH)
def predict_json():
    """Predict for ``{"text": ...}`` or ``{"texts": [...]}``."""
    return jsonify(service.predict("sentiment", service.json_payload()))


@bp.route("/sentiment", methods=["GET", "POST"])
def page():
    """The form: pick an example or type a text; see the result, its JSON and curl."""
    text = request.form.get("text", "")
    result, errors, status = page_prediction("sentiment", {"text": text}, request.method == "POST")
    return render_template(
        "sentiment/page.html",
        examples=EXAMPLES,
        text=text,
        result=result,
        errors=errors,
        segments=highlight(text, result["explanation"]) if result else [],
        result_json=pretty_json(result) if result else None,
        curl=curl_command(API_PATH, {"text": text or EXAMPLES["Positive"]}),
    ), status


def highlight(text: str, explanation: list[dict]) -> list[tuple[str, str]]:
    """The text cut into words and spaces, each decisive word with a CSS class.

    ``for-1`` .. ``for-3`` pushed towards the label, ``against-1`` .. ``against-3`` away
    from it; the digit grows with the weight.
    """
    weights = {item["term"]: item["weight"] for item in explanation}
    segments = []
    for chunk in re.split(r"(\s+)", text):
        weight = weights.get(term_of(chunk)) if chunk.strip() else None
        segments.append((chunk, weight_class(weight)))
    return segments


def weight_class(weight: float | None) -> str:
    if weight is None:
        return ""
    strength = 3 if abs(weight) >= 1 else 2 if abs(weight) >= 0.3 else 1
    return f"{'for' if weight > 0 else 'against'}-{strength}"

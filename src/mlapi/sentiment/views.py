"""The /sentiment page: examples, the text with its decisive words marked, the JSON and curl."""
from __future__ import annotations

import re

from flask import request

from mlapi.sentiment.model import term_of
from mlapi.web.i18n import N_
from mlapi.web.rendering import curl_command, page_prediction, render_page

# What the model's card says of its data (mlapi.sentiment.model's DATASET), translated where /models shows it.
DATASET_WORDS = (N_("CC BY-NC-SA 4.0 (airline tweets, non-commercial); CC BY 4.0 (UCI sentences)"),)

# The buttons' names are translated where the page shows them; the texts stay English (the model reads English).
EXAMPLES = {
    N_("Positive"): "Thank you for the upgrade, the crew was wonderful and we landed early!",
    N_("Neutral"): "What time does the first flight from Boston to Chicago leave tomorrow?",
    N_("Negative"): "Worst experience ever. Three hours on the tarmac and not a word from anyone.",
    N_("Help-desk complaint"): (
        "I have been on hold for 2 hours to rebook my cancelled flight and my bag is still missing. "
        "Can someone please call me back?"
    ),
}


def page():
    """The form: pick an example or type a text; see the result, its JSON and curl."""
    text = request.form.get("text", "")
    shown = page_prediction("sentiment", {"text": text}, request.method == "POST")
    segments = highlight(text, shown.result["explanation"]) if shown.result else []
    curl = curl_command(request.use_case.api_path, {"text": text or EXAMPLES["Positive"]})
    return render_page(shown, curl, examples=EXAMPLES, text=text, segments=segments)


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

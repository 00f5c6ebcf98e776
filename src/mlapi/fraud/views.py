"""The /fraud page: real held-out transactions, Amount and Time adjustable."""
from __future__ import annotations

from flask import request

from mlapi.fraud.model import examples
from mlapi.serving.registry import registry
from mlapi.web.forms import form_int, form_number
from mlapi.web.rendering import curl_command, error_lines, page_prediction, render_page


def page():
    """Pick a held-out transaction, adjust Amount and Time, see the score and its top factors."""
    shown_examples = examples(registry.get("fraud").model)
    form = request.form
    number = form_int(form.get("example"), 0, 0, len(shown_examples) - 1)
    transaction = {**shown_examples[number]["transaction"]}
    shown_before = form_int(form.get("shown"), None, 0, len(shown_examples) - 1)  # whose Amount and Time the form held
    for field in ("Amount", "Time"):
        typed = form.get(field, "").strip()
        left_from_before = shown_before not in (None, number) and typed == str(
            shown_examples[shown_before]["transaction"][field])
        if typed and not left_from_before:  # typed by the person, not left over from the transaction shown before
            transaction[field] = form_number(typed)
    payload = {"transaction": transaction}
    shown = page_prediction("fraud", payload, request.method == "POST")
    factors = shown.result["top_factors"] if shown.result else []
    largest = max((abs(factor["contribution"]) for factor in factors), default=0)
    return render_page(shown, curl_command(request.use_case.api_path, payload),
                       examples=[example["label"] for example in shown_examples], number=number,
                       transaction=transaction, largest=largest or 1, problems=error_lines(shown.errors))

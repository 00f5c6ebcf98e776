"""The /fraud page: real held-out transactions, Amount and Time adjustable."""
from __future__ import annotations

from babel.numbers import get_decimal_symbol
from flask import request
from flask_babel import get_locale

from mlapi.fraud.model import examples
from mlapi.serving.registry import registry
from mlapi.web.forms import form_decimal, form_int
from mlapi.web.rendering import curl_command, error_lines, page_prediction, render_page
from mlapi.words import N_

# What the model's card says of its data (mlapi.fraud.model's DATASET), translated where /models shows it.
DATASET_WORDS = (N_("Credit Card Fraud Detection (ULB MLG / Worldline), 10:1 sample with all 492 frauds"),)
EDITABLE = ("Amount", "Time")


def page():
    """Pick a held-out transaction, adjust Amount and Time, see the score and its top factors."""
    shown_examples = examples(registry.get("fraud").model)
    form = request.form
    number = form_int(form.get("example"), 0, 0, len(shown_examples) - 1)
    transaction = {**shown_examples[number]["transaction"]}
    shown_before = form_int(form.get("shown"), None, 0, len(shown_examples) - 1)  # whose Amount and Time the form held
    for field in EDITABLE:
        typed = form.get(field, "").strip()
        before = shown_examples[shown_before]["transaction"][field] if shown_before not in (None, number) else None
        left_from_before = before is not None and typed in (str(before), as_typed(before))
        if typed and not left_from_before:  # typed by the person, not left over from the transaction shown before
            transaction[field] = form_decimal(typed)
    payload = {"transaction": transaction}
    shown = page_prediction("fraud", payload, request.method == "POST")
    factors = shown.result["top_factors"] if shown.result else []
    largest = max((abs(factor["contribution"]) for factor in factors), default=0)
    invalid = set((shown.errors or {}).get("transaction") or ()) & set(EDITABLE)
    return render_page(shown, curl_command(request.use_case.api_path, payload),
                       examples=[example["label"] for example in shown_examples], number=number,
                       transaction=transaction, fields={field: as_typed(transaction[field]) for field in EDITABLE},
                       invalid=invalid, largest=largest or 1, problems=problems(shown.errors))


def as_typed(value) -> str:
    """A field's value as the form shows it: the page's decimal mark (``149,62`` in pt-BR), no grouping."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value).replace(".", get_decimal_symbol(get_locale() or "en"))


def problems(errors: dict | None) -> list[str]:
    """The API's errors as lines, a transaction's field named alone (``Amount: Must be a number.``)."""
    nested = (errors or {}).get("transaction")
    if not isinstance(nested, dict):
        return error_lines(errors)
    return error_lines(nested) + error_lines({key: value for key, value in errors.items() if key != "transaction"})

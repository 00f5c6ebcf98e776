"""POST /api/v1/fraud and the /fraud page (real held-out transactions, Amount and Time adjustable)."""
from __future__ import annotations

from flask import jsonify, render_template, request

from mlapi import service
from mlapi.forms import form_int
from mlapi.fraud import bp
from mlapi.fraud.model import examples
from mlapi.pages import curl_command, error_lines, page_prediction, pretty_json
from mlapi.registry import registry

API_PATH = "/api/v1/fraud"


@bp.post(API_PATH)
def predict_json():
    """Score ``{"transaction": {...}}`` or ``{"transactions": [...]}``."""
    return jsonify(service.predict("fraud", service.json_payload()))


@bp.route("/fraud", methods=["GET", "POST"])
def page():
    """Pick a held-out transaction, adjust Amount and Time, see the score and its top factors."""
    shown = examples(registry.get("fraud").model)
    form = request.form
    number = form_int(form.get("example"), 0, 0, len(shown) - 1)
    transaction = {**shown[number]["transaction"]}
    for field in ("Amount", "Time"):
        if form.get(field, "").strip():
            transaction[field] = adjusted(form[field])
    payload = {"transaction": transaction}
    result, errors, status = page_prediction("fraud", payload, request.method == "POST")
    largest = max((abs(f["contribution"]) for f in result["top_factors"]), default=0) if result else 0
    return render_template(
        "fraud/page.html",
        examples=[example["label"] for example in shown],
        number=number,
        transaction=transaction,
        result=result,
        largest=largest or 1,
        problems=error_lines(errors),
        result_json=pretty_json(result) if result else None,
        curl=curl_command(API_PATH, payload),
    ), status


def adjusted(text: str) -> float | str:
    """A typed Amount or Time as a number (kept as text when it is not one, for the schema's 422)."""
    try:
        return float(text)
    except ValueError:
        return text

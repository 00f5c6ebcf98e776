"""POST /api/v1/fraud (single and batch) and the /fraud page, on the same inputs."""
import html
import json
import re

import pytest

from mlapi.fraud import EXAMPLE_TRANSACTION
from mlapi.fraud.model import FEATURES


def fraud(client, body):
    return client.post("/api/v1/fraud", json=body)


def test_contract_shape(client):
    body = fraud(client, {"transaction": EXAMPLE_TRANSACTION}).get_json()
    assert set(body) == {"fraud_probability", "is_fraud", "threshold", "risk", "top_factors", "explanation_method",
                         "model"}
    assert body["explanation_method"] == "occlusion"
    assert body["is_fraud"] == (body["fraud_probability"] >= body["threshold"])
    assert body["risk"] in {"low", "medium", "high"}
    contributions = [abs(f["contribution"]) for f in body["top_factors"]]
    assert contributions == sorted(contributions, reverse=True)
    assert all(f["value"] == EXAMPLE_TRANSACTION[f["feature"]] for f in body["top_factors"])


def test_batch_answers_in_input_order(client):
    bigger = dict(EXAMPLE_TRANSACTION, Amount=2500.0, V14=-9.0)
    batch = fraud(client, {"transactions": [EXAMPLE_TRANSACTION, bigger, EXAMPLE_TRANSACTION]}).get_json()
    singles = [{k: v for k, v in fraud(client, {"transaction": t}).get_json().items() if k != "model"}
               for t in (EXAMPLE_TRANSACTION, bigger, EXAMPLE_TRANSACTION)]
    assert batch["results"] == singles


def without(field):
    return {k: v for k, v in EXAMPLE_TRANSACTION.items() if k != field}


@pytest.mark.parametrize(
    "transaction, field, message",
    [
        (without("V3"), "V3", "Missing data"),
        (dict(EXAMPLE_TRANSACTION, Amount="12.5"), "Amount", "Must be a number"),
        (dict(EXAMPLE_TRANSACTION, Amount=True), "Amount", "Must be a number"),
        (dict(EXAMPLE_TRANSACTION, Time=None), "Time", "null"),
        (dict(EXAMPLE_TRANSACTION, card_number=1), "card_number", "Unknown field"),
    ],
)
def test_each_bad_field_is_a_422_naming_it(client, transaction, field, message):
    response = fraud(client, {"transaction": transaction})
    assert response.status_code == 422
    body = response.get_json()
    assert message in body["errors"]["transaction"][field][0]
    assert f"transaction.{field}" in body["detail"]


def test_non_finite_or_huge_numbers_in_any_field_are_a_422_naming_the_range(client):
    values = ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400, "-1" + "0" * 400]
    cases = [(field, value) for field in FEATURES for value in values]
    batch = [dict(EXAMPLE_TRANSACTION, **{field: f"VALUE{i}"}) for i, (field, _) in enumerate(cases)]
    body = json.dumps({"transactions": batch})
    for i, (_, value) in enumerate(cases):
        body = body.replace(f'"VALUE{i}"', value, 1)
    response = client.post("/api/v1/fraud", data=body, content_type="application/json")
    assert response.status_code == 422
    errors = response.get_json()["errors"]["transactions"]
    assert len(errors) == len(cases)
    for i, (field, _) in enumerate(cases):
        assert errors[str(i)] == {field: ["Must be a finite number from -1e+308 to 1e+308."]}


def test_the_largest_numbers_in_any_field_are_scored(client):
    batch = [dict(EXAMPLE_TRANSACTION, **{field: value}) for field in FEATURES for value in (1e308, -1e308, 10**308)]
    results = fraud(client, {"transactions": batch}).get_json()["results"]
    assert len(results) == len(batch)
    assert all(0 <= r["fraud_probability"] <= 1 and abs(r["top_factors"][0]["contribution"]) <= 1 for r in results)


@pytest.mark.parametrize("body, field", [({"transactions": []}, "transactions"), ({}, "_schema"),
                                         ({"transactions": [EXAMPLE_TRANSACTION] * 1001}, "transactions")])
def test_batch_limits(client, body, field):
    response = fraud(client, body)
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_the_card_names_every_field(client):
    schema = client.get("/api/v1/models/fraud").get_json()["input_schema"]
    assert sorted(schema["properties"]["transaction"]["required"]) == sorted(FEATURES)


def shown_json(page: str) -> dict:
    return json.loads(re.search(r"<pre class=\"code\"><code>(\{.*?)</code></pre>", html.unescape(page), re.S).group(1))


def test_page_example_with_a_new_amount_and_api_agree(app, client):
    from mlapi.fraud.model import examples
    from mlapi.serving.registry import registry

    with app.app_context():
        chosen = examples(registry.get("fraud").model)[2]
    page = client.post("/fraud", data={"example": "2", "Amount": "999.5", "Time": ""}).get_data(as_text=True)
    expected = fraud(client, {"transaction": dict(chosen["transaction"], Amount=999.5)}).get_json()
    assert shown_json(page) == expected
    assert "What pushed the score most" in page and page.count("<dt>") == len(expected["top_factors"])


def test_page_lists_a_dozen_labelled_examples(client):
    page = client.get("/fraud").get_data(as_text=True)
    labels = re.findall(r'<span class="tag tag-(fraud|legitimate)">', page)
    assert len(labels) == 12 and "fraud" in labels and "legitimate" in labels


def test_page_reads_an_odd_example_number_as_the_first(client):
    first = shown_json(client.post("/fraud", data={"example": "0"}).get_data(as_text=True))
    for number in ("²", "٣", "-1", "99", "9" * 5000):
        response = client.post("/fraud", data={"example": number})
        assert response.status_code == 200 and shown_json(response.get_data(as_text=True)) == first


def test_page_shows_a_bad_amount(client):
    response = client.post("/fraud", data={"example": "0", "Amount": "a lot"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<li>Amount: Must be a number.</li>" in page and "transaction." not in page


def test_picking_another_transaction_scores_its_own_amount_and_time(app, client):
    from mlapi.fraud.model import examples
    from mlapi.serving.registry import registry

    with app.app_context():
        first, second = (example["transaction"] for example in examples(registry.get("fraud").model)[:2])
    left_over = {"shown": "0", "Amount": str(first["Amount"]), "Time": str(first["Time"])}  # the form as #1 filled it
    page = client.post("/fraud", data={**left_over, "example": "1"}).get_data(as_text=True)
    assert shown_json(page) == fraud(client, {"transaction": second}).get_json()
    assert f'name="Amount" value="{second["Amount"]}"' in page and f'name="Time" value="{second["Time"]}"' in page
    edited = client.post("/fraud", data={**left_over, "Amount": "12.5", "example": "1"}).get_data(as_text=True)
    assert shown_json(edited) == fraud(client, {"transaction": dict(second, Amount=12.5)}).get_json()  # an edit stays

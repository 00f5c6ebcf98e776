"""Numbers on the pages as the page's language writes them: 25.173,29, 99,8% and 0,4635 in Brazilian Portuguese,
25,173.29, 99.8% and 0.4635 in English. Each expected figure is the API's own answer formatted here with Babel,
never a model's output written down. Also what pt-BR readers asked for with them: metric names, a decimal comma in
the fraud form, /demand's horizon and departments, /recommend with no movie, /monitor's alerts and live quality."""
from __future__ import annotations

import html
import json
import re
from datetime import date, datetime

import pytest
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from mlapi import extensions
from mlapi.access.keys import create_key
from mlapi.alerts.rules import AlertEvent
from mlapi.recommend.views import GENRES
from mlapi.storage.database import db

PORTUGUESE = {"Accept-Language": "pt-BR"}
ENGLISH = {"Accept-Language": "en-US"}
LANGUAGES = [(PORTUGUESE, "pt_BR"), (ENGLISH, "en")]
IDS = ["pt-BR", "en"]


def page_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def shown_json(page: str) -> dict:
    return json.loads(re.search(r'<pre class="code"><code>(\{.*?)</code></pre>', page, re.S).group(1))


def sent_payload(page: str) -> dict:
    """What the page sent the API, from its curl command."""
    return json.loads(re.search(r"-d '(.*?)'\s*</code>", page, re.S).group(1))


def decimal(value: float, locale: str, pattern: str) -> str:
    return format_decimal(value, pattern, locale=locale)


def percent(value: float, locale: str) -> str:
    return format_percent(value, "#,##0.0%", locale=locale)


def test_the_filters_write_the_english_pages_as_before(app):
    """English output stays byte for byte what the templates' old formats wrote."""
    from flask_babel import force_locale

    from mlapi.web.numbers import metric_name, number, percent, signed, significant
    with app.test_request_context(), force_locale("en"):
        assert number(25173.2888, 2) == f"{25173.2888:,.2f}" == "25,173.29"
        assert percent(0.998, 1) == "99.8%" and signed(0.4123, 3) == "+0.412" and signed(-1.25, 4) == "-1.2500"
        assert significant(-1.359807134, 6) == "%.6g" % -1.359807134 and number(0.0, most=3) == "0"
        assert number("–") == "–" and number(None) is None  # what is not a number stays as it is
        assert metric_name("macro_f1") == "macro F1" and metric_name("coverage_80") == "80% coverage"
        assert metric_name("someone_s_own") == "someone s own"
    with app.test_request_context(), force_locale("pt_BR"):
        assert number(25173.2888, 2) == "25.173,29" and percent(0.998, 1) == "99,8%" and signed(0.4123, 3) == "+0,412"
        assert number(17640) == "17.640" and number(0.4635, most=4) == "0,4635"
        assert metric_name("accuracy") == "acurácia" and metric_name("recall") == "revocação (recall)"
        assert metric_name("roc_auc") == "ROC AUC" and metric_name("coverage_80") == "cobertura de 80%"


@pytest.mark.parametrize(("headers", "locale"), LANGUAGES, ids=IDS)
def test_demand_table_axis_and_departments(client, headers, locale):
    page = page_of(client.post("/demand", data={"series": "1_1", "horizon": "4"}, headers=headers))
    forecast = client.post("/api/v1/demand", json={"series": "1_1", "horizon": 4}).get_json()["forecast"]
    assert any(week["sales"] >= 1000 for week in forecast)  # a thousands separator to see
    for week in forecast:
        cells = "".join(f"<td>{decimal(week[key], locale, '#,##0.00')}</td>" for key in ("sales", "lower", "upper"))
        assert f"<tr><td>{week['date']}</td>{cells}</tr>" in page
    ticks = re.findall(r'<text class="tick" x="52" y="[\d.]+" text-anchor="end">([^<]*)</text>', page)
    grouped = r"\d{1,3}(\.\d{3})*" if locale == "pt_BR" else r"\d{1,3}(,\d{3})*"
    assert len(ticks) == 5 and all(re.fullmatch(grouped, tick) for tick in ticks)
    series = client.get("/api/v1/demand/series").get_json()["series"]
    for known in series:
        number = known["name"].removeprefix("Dept ")
        shown_date = format_date(date.fromisoformat(known["last_date"]), "medium", locale=locale)
        named = f"Depto. {number} (até {shown_date})" if locale == "pt_BR" else f"Dept {number} (to {shown_date})"
        assert f">{named}</option>" in page


def test_demand_says_a_wrong_horizon_in_portuguese_and_keeps_it(client):
    response = client.post("/demand", data={"series": "1_1", "horizon": "99"}, headers=PORTUGUESE)
    page = page_of(response)
    assert response.status_code == 422 and 'class="result"' not in page and "Previsão, 8 semanas" not in page
    assert '<ul class="errors" id="horizon-errors"><li>Deve estar entre 1 e 52.</li>' in page
    assert 'name="horizon" min="1" max="52" value="99" aria-invalid="true"' in page


@pytest.mark.parametrize(("headers", "locale"), LANGUAGES, ids=IDS)
def test_sentiment_header_and_bars_round_alike(client, headers, locale):
    text = "Thank you for the upgrade, the crew was wonderful and we landed early!"
    page = page_of(client.post("/sentiment", data={"text": text}, headers=headers))
    answer = client.post("/api/v1/sentiment", json={"text": text}).get_json()
    sure = "de certeza" if locale == "pt_BR" else "sure"
    assert f"{percent(answer['score'], locale)} {sure} · " in page
    for probability in answer["probabilities"].values():
        assert f'<span class="pct">{percent(probability, locale)}</span>' in page
    assert f'<dd class="bar-{answer["label"]}">' in page  # each bar takes its label's colour
    for item in answer["explanation"]:
        weight = format_decimal(item["weight"], "+#,##0.000;-#,##0.000", locale=locale)
        assert f"<td>{item['term']}</td><td>{weight}</td>" in page


@pytest.mark.parametrize(("headers", "locale"), LANGUAGES, ids=IDS)
def test_recommend_scores_and_genres(app, client, headers, locale):
    from flask_babel import force_locale, gettext

    page = page_of(client.post("/recommend", data={"example": "Superhero fan"}, headers=headers))
    answer = shown_json(page)
    word = "pontuação" if locale == "pt_BR" else "score"
    for item in answer["recommendations"]:
        assert f'<span class="score">{word} {decimal(item["score"], locale, "#,##0.000")}</span>' in page
    with app.test_request_context(), force_locale(locale):
        said = {genre: gettext(genre) for genre in GENRES}
    result = page[page.index('<section class="result"'):]
    shown = [genres.split(", ") for genres in re.findall(r'<span class="genres">([^<]*)</span>', result) if genres]
    expected = [[said[genre] for genre in item["genres"]] for item in answer["recommendations"] if item["genres"]]
    assert shown == expected and shown
    if locale == "pt_BR":
        assert "Ficção científica" in page or "Ação" in page


def test_recommend_without_movies_says_to_add_one(client):
    response = client.post("/recommend", data={"action": "recommend"}, headers=PORTUGUESE)
    page = page_of(response)
    assert response.status_code == 422 and "Adicione pelo menos um filme primeiro." in page
    assert "O tamanho deve estar entre" not in page and "Length must be" not in page


@pytest.mark.parametrize(("headers", "locale"), LANGUAGES, ids=IDS)
def test_fraud_probability_threshold_and_factors(client, headers, locale):
    page = page_of(client.post("/fraud", data={"example": "0"}, headers=headers))
    answer = shown_json(page)
    fraud = "de fraude" if locale == "pt_BR" else "fraud"
    threshold = "limiar" if locale == "pt_BR" else "threshold"
    assert f"{percent(answer['fraud_probability'], locale)} {fraud} ·" in page
    assert f"{threshold} {decimal(answer['threshold'], locale, '#,##0.####')} ·" in page
    for factor in answer["top_factors"]:
        shown = format_decimal(factor["contribution"], "+#,##0.0000;-#,##0.0000", locale=locale)
        assert f'<span class="pct">{shown}</span>' in page


@pytest.mark.parametrize(("typed", "read"), [("12,50", 12.5), ("1.234,56", 1234.56), ("1,234.56", 1234.56),
                                             ("12.5", 12.5), (" 7 ", 7.0)])
def test_fraud_form_takes_a_decimal_comma(client, typed, read):
    page = page_of(client.post("/fraud", data={"example": "0", "Amount": typed}, headers=PORTUGUESE))
    assert sent_payload(page)["transaction"]["Amount"] == read
    assert f'name="Amount" value="{str(read).replace(".", ",")}"' in page  # shown back the page's way


def test_fraud_form_names_a_wrong_field_without_its_path(client):
    response = client.post("/fraud", data={"example": "0", "Amount": "doze"}, headers=PORTUGUESE)
    page = page_of(response)
    assert response.status_code == 422 and "<li>Amount: Deve ser um número.</li>" in page
    assert "transaction.Amount" not in page and 'id="Amount" name="Amount" value="doze" aria-invalid="true"' in page


@pytest.mark.parametrize(("headers", "locale"), LANGUAGES, ids=IDS)
def test_models_and_home_show_metric_names_and_numbers(client, headers, locale):
    card = client.get("/api/v1/models/sentiment").get_json()["versions"][-1]
    page = page_of(client.get("/models", headers=headers))
    sentiment = page[page.index('id="sentiment"'):page.index('id="recommend"')]
    rows = "linhas" if locale == "pt_BR" else "rows"
    assert f"<td>{decimal(card['dataset']['rows'], locale, '#,##0')} {rows}</td>" in sentiment
    headline = decimal(card["metrics"]["accuracy"], locale, "#,##0.####")
    assert f'<td class="headline">{headline}</td>' in sentiment
    assert f"<td>{decimal(card['metrics']['macro_f1'], locale, '#,##0.####')}</td>" in sentiment
    names = ("acurácia", "F1 macro", "linhas de teste") if locale == "pt_BR" else ("accuracy", "macro F1", "test rows")
    assert all(f'<th scope="col"{" class=" + chr(34) + "headline" + chr(34) if name == names[0] else ""}>{name}</th>'
               in sentiment for name in names)
    if locale == "pt_BR":
        assert "uso não comercial" in sentiment and "macro f1" not in sentiment
    home = page_of(client.get("/", headers=headers))
    assert f"{names[0]} {headline}</td>" in home


@pytest.mark.parametrize(("headers", "locale"), LANGUAGES, ids=IDS)
def test_monitor_live_quality_drift_and_alerts(app, client, headers, locale):
    with app.app_context():
        admin = {"Authorization": f"Bearer {create_key('ops', 'admin')}"}
    texts = ["Worst airline ever, lost my bag", "Lovely crew, we landed early", "When does the gate open?"] * 4
    answered = client.post("/api/v1/sentiment", json={"texts": texts}, headers=admin)
    extensions.prediction_log(app).flush()
    items = [{"request_id": answered.headers["X-Request-ID"], "position": position,
              "label": "negative" if position % 3 else result["label"]}
             for position, result in enumerate(answered.json["results"])]
    assert client.post("/api/v1/feedback", json={"items": items}, headers=admin).status_code == 200
    with app.app_context():
        db.session.add(AlertEvent(rule="complaints", use_case="sentiment", condition="share(negative) > 0.4",
                                  value=0.5, fired_at=datetime(2026, 12, 6, 13, 12, 40)))
        db.session.commit()
    quality = client.get("/api/v1/models/sentiment/quality?minutes=1440").get_json()["versions"][-1]
    panel = page_of(client.get("/monitor/panel", headers=headers))
    names = {"accuracy": "acurácia", "macro_f1": "F1 macro"} if locale == "pt_BR" else \
        {"accuracy": "accuracy", "macro_f1": "macro F1"}
    held = "dados de teste" if locale == "pt_BR" else "held-out"
    for metric, name in names.items():
        live, card = quality["metrics"][metric], quality["held_out"][metric]
        assert (f'<span class="metric">{name} <strong>{decimal(live, locale, "#,##0.###")}</strong> '
                f'({held}{":" if locale == "pt_BR" else ""} {decimal(card, locale, "#,##0.###")})') in panel, panel
    distance = re.search(r"(?:Distância das classes nos dados de teste|Distance from the held-out classes): ([\d.,]+)",
                         panel).group(1)
    assert re.fullmatch(r"0(,\d+)?" if locale == "pt_BR" else r"0(\.\d+)?", distance)
    title = "Análise de sentimento" if locale == "pt_BR" else "Sentiment analysis"
    assert f"<td>2026-12-06 13:12</td><td>complaints</td><td>{title}</td>" in panel
    assert ("em " if locale == "pt_BR" else "on ") + title + ", share(negative)" in panel

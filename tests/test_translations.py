"""The pages in Brazilian Portuguese and English (issue 26): the catalog has every message of the sources, each
page speaks the chosen language from top to bottom, the `lang` cookie wins over the browser, and the API's problems
speak the reader's language (its data stays as it is)."""
from __future__ import annotations

import html
import json
import re
from http import HTTPStatus

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext

from mlapi import errors
from mlapi.catalog import USE_CASES
from mlapi.web.i18n import STATUS_PHRASES
from tests.servers import ROOT

TRANSLATIONS = ROOT / "src" / "mlapi" / "translations"
PO = TRANSLATIONS / "pt_BR" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
PORTUGUESE = {"Accept-Language": "pt-BR"}
ENGLISH = {"Accept-Language": "en-US"}

# Every page's frame: the menu, the footer.
FRAME = ["Sentiment analysis", "Movie recommendations", "Chest X-ray", "Demand forecast", "Card fraud", "Models",
         "Monitor", "API docs", "every answer here comes from"]
# What each page must not say in English any more (on top of the frame); a page's <pre> blocks (JSON, curl) and
# what people typed are left out, so are the names of metrics, the data's own words and the publishing contracts.
ENGLISH_ON = {
    "/": ["Trained models, ready to use", "Use case", "What it does", "Active version", "Held-out metric",
          "model card", "Service status", "Try it with curl", "This command runs without a key"],
    "/sentiment": ["Type a short English text", "Try an example", "Positive", "Neutral", "Negative",
                   "Help-desk complaint", "Text (1 to", "Analyse"],
    "/recommend": ["Pick a few movies", "Try a taste", "Superhero fan", "Family and animation", "Find a movie",
                   "Search", "Your movies", "None yet", "How many suggestions", "Recommend"],
    "/xray": ["Upload a chest X-ray", "teaching demo", "Try an example", "true label", "Your image", "Classify"],
    "/demand": ["How much will a department", "Department", "Weeks ahead", "or your own history", "Forecast"],
    "/fraud": ["Pick one of a dozen", "Transaction", "legitimate", "seconds since", "Score"],
    "/models": ["Models and versions", "Every version of every model", "active:", "ranked by", "Version",
                "Source and note", "(active)", "Created", "Licence", "Publish your own model", "Key (one that may",
                "Model file", "Note (what you changed", "The server checks the file", "What the model must be",
                "The same with curl", "takes no published models", "Admin key", "Activate"],
    "/api/docs": ["API documentation", "Every endpoint", "The interactive view needs JavaScript"],
    "/monitor": ["What the service is doing right now", "minutes of predictions", "Updated at", "serving v1",
                 "requests", "min ago", "held-out data", "Predicted", "Bars: answers per minute", "Who is using what",
                 "With an admin key entered"],
}
SENT = {  # a page after its form was sent: what its result says
    "/sentiment": ({"text": "Lovely crew, we landed early"},
                   ["Result:", "sure", "Words that decided it", "towards", "against it", "darker means", "Word"]),
    "/recommend": ({"example": "Superhero fan"}, ["Suggested for you", "score", "because you liked", "Remove"]),
    "/xray": ({"example": "0"}, ["compatible with pneumonia", "looks normal", "What you sent"]),
    "/demand": ({"series": "1_1", "horizon": "4"},
                ["Forecast,", "% interval", "history", "Week", "Sales", "Lower", "Upper"]),
    "/fraud": ({"example": "0"}, ["% fraud", "flag as fraud", "let it through", "risk", "threshold",
                                  "What pushed the score most", "Each bar is", "towards fraud"]),
}


def visible_text(page: str) -> str:
    """What a person reads on ``page``: no tags, code blocks, scripts or typed text."""
    page = re.sub(r"<(pre|script|style|textarea)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def english_left(page: str, strings: list[str]) -> list[str]:
    """The ``strings`` (and the frame's) that ``page`` shows as words ("Monitor" is not in "Monitoramento")."""
    shown = visible_text(page)
    return [string for string in FRAME + strings if re.search(as_words(string), shown)]


def as_words(string: str) -> str:
    return (r"(?<!\w)" if string[0].isalnum() else "") + re.escape(string) + (r"(?!\w)" if string[-1].isalnum() else "")


# (a) the catalog


def source_messages() -> set[str]:
    """Every msgid in the sources now, as `make translations` extracts them (babel.cfg)."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = extract_from_dir(ROOT, method_map, options_map)
    return {message[0] if isinstance(message, tuple) else message for _, _, message, _, _ in found}


def test_every_message_of_the_sources_has_a_portuguese_translation():
    with open(PO, "rb") as po:
        catalog = read_po(po, locale="pt_BR")
    messages = source_messages()
    assert len(messages) > 200
    missing = sorted(message for message in messages if message not in catalog)
    untranslated = sorted(message for message in messages if message in catalog and (
        catalog[message].fuzzy or not all(catalog[message].string if isinstance(catalog[message].string, tuple)
                                          else [catalog[message].string])))
    assert not missing, f"not in {PO.name} (run make translations, then translate them): {missing}"
    assert not untranslated, f"empty or fuzzy in {PO.name}: {untranslated}"
    problems = [(message.id, [str(error) for error in found]) for message, found in catalog.check()]
    assert not problems, problems  # e.g. a translation without the %(name)s its msgid has


def test_the_committed_mo_is_the_po_compiled(tmp_path):
    with open(PO, "rb") as po:
        catalog = read_po(po, locale="pt_BR")
    with open(tmp_path / "messages.mo", "wb") as compiled:
        write_mo(compiled, catalog)
    with open(tmp_path / "messages.mo", "rb") as fresh, open(MO, "rb") as committed:
        assert entries(read_mo(committed)) == entries(read_mo(fresh)), "run make translations and commit messages.mo"


def entries(catalog) -> dict:
    """msgid -> translation (a plural's both as tuples)."""
    return {hashable(message.id): hashable(message.string) for message in catalog if message.id}


def hashable(value):
    return tuple(value) if isinstance(value, list) else value


def test_use_case_titles_descriptions_and_error_pages_are_in_the_catalog(app):
    with app.test_request_context(), force_locale("pt_BR"):
        for use_case in USE_CASES:
            assert gettext(use_case.title) != use_case.title
            assert gettext(use_case.description) != use_case.description
        for status in errors.DETAILS:  # what an error known only by its status says
            assert gettext(errors.DETAILS[status]) != errors.DETAILS[status]
            assert HTTPStatus(status).phrase in STATUS_PHRASES
        assert all(gettext(words) != words for words in STATUS_PHRASES)


# (b) the pages


@pytest.mark.parametrize("path", list(ENGLISH_ON))
def test_each_page_in_portuguese_then_in_english(client, path):
    page = client.get(path, headers=PORTUGUESE)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="pt-BR">' in text
    assert not english_left(text, ENGLISH_ON[path])
    assert 'aria-label="Casos de uso"' in text and "Português" in text and "English" in text  # the switch
    assert {"Accept-Language", "Cookie"} <= set(page.vary)
    english = client.get(path, headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="en">' in english and english_left(english, ENGLISH_ON[path]) == FRAME + ENGLISH_ON[path]


@pytest.mark.parametrize("path", list(SENT))
def test_each_result_in_portuguese(client, path):
    data, strings = SENT[path]
    sent = client.post(path, data=data, headers=PORTUGUESE)
    assert sent.status_code == 200 and 'class="result"' in sent.get_data(as_text=True)
    assert not english_left(sent.get_data(as_text=True), strings)


def test_the_models_page_messages_in_portuguese(client):
    page = client.get("/models", headers=PORTUGUESE).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = client.post("/models", headers=PORTUGUESE, data={
        "csrf_token": token, "name": "sentiment", "key": "mlapi_nope", "version": "v1", "action": "activate"})
    assert refused.status_code == 401 and "Essa chave de API é desconhecida" in refused.get_data(as_text=True)
    expired = client.post("/models", headers=PORTUGUESE, data={"name": "sentiment", "action": "activate"})
    assert "O formulário expirou" in expired.get_data(as_text=True)


def test_an_error_page_in_portuguese(client):
    missing = client.get("/no-such-page", headers=PORTUGUESE)
    text = missing.get_data(as_text=True)
    assert missing.status_code == 404 and '<html lang="pt-BR">' in text and "Não encontrado" in text
    assert not english_left(text, ["Not Found", "There is no such resource", "Back to the models"])


def test_the_key_pages_in_portuguese(make_app):
    client = make_app(ALLOW_ANONYMOUS=False).test_client()
    asked = client.get("/sentiment", headers=PORTUGUESE)
    text = asked.get_data(as_text=True)
    assert asked.status_code == 401 and '<html lang="pt-BR">' in text and "Chave de API necessária" in text
    assert not english_left(text, ["API key needed", "This service needs", "Use this key", "The key is checked"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    wrong = client.post("/key", headers=PORTUGUESE, data={"csrf_token": token, "key": "mlapi_nope", "next": "/"})
    assert wrong.status_code == 401 and not english_left(wrong.get_data(as_text=True), ["unknown or revoked"])


def test_the_429_page_in_portuguese(make_app):
    client = make_app(RATELIMIT_PAGES="1/minute").test_client()
    assert client.get("/", headers=PORTUGUESE).status_code == 200
    refused = client.post("/sentiment", data={"text": "O voo atrasou"}, headers=PORTUGUESE)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 429 and '<html lang="pt-BR">' in text
    said = r"Este endereço já abriu as 1 páginas permitidas por minuto\.\s+Aguarde <strong>\d+ segundos</strong>"
    assert re.search(said, text)
    assert "Enviar de novo" in text and not english_left(text, ["Too many requests", "This address", "Wait",
                                                                "seconds", "Send again", "What you sent",
                                                                "A class behind one address"])


def test_the_printable_keys_in_portuguese(app, tmp_path):
    page = tmp_path / "keys.html"
    result = app.test_cli_runner().invoke(args=["keys", "create-batch", "turma-b", "--count", "2", "--lang", "pt-BR",
                                                "--expires", "2099-03-01", "--page", str(page)])
    assert result.exit_code == 0, result.output
    printable = page.read_text()
    assert '<html lang="pt-BR">' in printable and "2 chaves (cliente, até 2099-03-02 00:00 UTC)" in printable
    assert "Abra <strong>o endereço no quadro</strong>" in printable and "Vale até 2099-03-02 00:00 UTC." in printable
    assert not english_left(printable, ["Print this page", "Open", "Works until", "the address on the board"])


# (c) the switch


def test_the_switch_sets_the_cookie_and_goes_back_to_a_local_page_only(client):
    switched = client.get("/lang/pt-BR?next=/sentiment")
    assert switched.status_code == 303 and switched.headers["Location"] == "/sentiment"
    cookie = switched.headers["Set-Cookie"]
    assert cookie.startswith("lang=pt-BR;") and "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie
    assert client.get("/lang/pt-BR?next=https://evil.example").headers["Location"] == "/"
    assert client.get("/lang/pt-BR?next=//evil.example/x").headers["Location"] == "/"
    assert client.get("/lang/fr?next=/").status_code == 404
    page = client.get("/sentiment", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="pt-BR">' in page and "Análise de sentimento" in page  # the cookie wins over the browser
    client.get("/lang/en?next=/")
    assert '<html lang="en">' in client.get("/", headers=PORTUGUESE).get_data(as_text=True)


@pytest.mark.parametrize(("accepted", "shown"), [
    ("pt-BR", "pt-BR"), ("pt", "pt-BR"), ("pt-PT,en;q=0.5", "pt-BR"), ("fr,pt-BR;q=0.8,en;q=0.5", "pt-BR"),
    ("en-US,pt-BR;q=0.9", "en"), ("en-US", "en"), ("fr", "en"), ("*", "en"), ("", "en"),
])
def test_the_browser_s_first_language_the_pages_speak(client, accepted, shown):
    page = client.get("/", headers={"Accept-Language": accepted}).get_data(as_text=True)
    assert f'<html lang="{shown}">' in page


def test_the_api_s_answers_stay_english_and_its_problems_speak_the_reader_s_language(client):
    models = client.get("/api/v1/models", headers=PORTUGUESE)
    assert "Accept-Language" not in models.vary and "Sentiment analysis" in models.get_data(as_text=True)  # data
    body = {"tweet": "late again", "texts": ["", 5]}
    english = client.post("/api/v1/sentiment", json=body, headers=ENGLISH).json
    refused = client.post("/api/v1/sentiment", json=body, headers=PORTUGUESE)
    said = refused.json
    assert refused.status_code == 422 and refused.headers["Content-Language"] == "pt-BR"
    assert {"Accept-Language", "Cookie"} <= set(refused.vary)
    assert said["code"] == english["code"] == "validation_failed" and said["title"] == "Entidade não processável"
    assert said["detail"].startswith("Corrija estes campos e envie de novo: ") and "tweet" in said["detail"]
    assert said["errors"]["tweet"] == ["Campo desconhecido; você quis dizer 'text'?"]
    assert english["errors"]["tweet"] == ["Unknown field; did you mean 'text'?"]
    assert said["errors"]["texts"]["0"] != english["errors"]["texts"]["0"]
    assert said["errors"]["texts"]["1"] == ["Não é um texto válido."]


@pytest.mark.parametrize(("request_args", "status"), [
    ({"path": "/api/v1/sentiment", "data": "{", "content_type": "application/json"}, 400),
    ({"path": "/api/v1/nope"}, 404),
    ({"path": "/api/v1/models/sentiment/active", "method": "PUT", "json": {"version": "v1"}}, 401),
    ({"path": "/api/v1/sentiment", "data": "text", "content_type": "text/plain"}, 415),
    ({"path": "/api/v1/demand", "json": {"history": [{"date": "06/01/2012", "sales": 1}]}}, 422),
    ({"path": "/api/v1/recommend", "json": {"liked": [1, 1]}}, 422),
])
def test_each_kind_of_problem_in_portuguese(client, request_args, status):
    request_args = {"method": "POST", **request_args}
    english = client.open(**request_args, headers=ENGLISH)
    said = client.open(**request_args, headers=PORTUGUESE)
    assert english.status_code == said.status_code == status and said.json["code"] == english.json["code"]
    assert said.json["detail"] != english.json["detail"], english.json["detail"]
    assert said.json["title"] != english.json["title"]
    left = [message for messages in leaves(said.json.get("errors")) for message in [messages]
            if message in leaves(english.json.get("errors"))]
    assert not left, left


def leaves(said) -> list[str]:
    """Every message of a problem's ``errors``."""
    if isinstance(said, dict):
        return [message for value in said.values() for message in leaves(value)]
    if isinstance(said, list):
        return [message for value in said for message in leaves(value)]
    return [said] if isinstance(said, str) else []


def test_a_field_name_made_to_trip_the_templates_is_answered_like_any_other(client):
    """A message quoting a client's text is matched against the templates in linear time (a crafted text of
    4,000 characters once held a worker for minutes)."""
    body = json.dumps({": " * 2000: 1, "text": "oi"})
    said = client.post("/api/v1/sentiment", data=body, content_type="application/json", headers=PORTUGUESE)
    assert said.status_code == 422 and said.json["detail"].startswith("Corrija estes campos e envie de novo: : : ")

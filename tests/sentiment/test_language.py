"""The sentiment answer says when a text does not look like English, the only language the model learned."""
import pytest

from mlapi.sentiment.language import looks_english


@pytest.mark.parametrize("text", [
    "The flight was delayed two hours and nobody told us anything.",
    "Great crew!", "José was lovely", "@united thanks", "12345", "Lost my bag again",
])
def test_english_and_wordless_texts_look_english(text):
    assert looks_english(text)


@pytest.mark.parametrize("text", [
    "O voo atrasou duas horas e ninguém avisou nada.", "Muito bom", "Obrigado pela ótima viagem!",
    "A tripulação foi maravilhosa", "El vuelo fue excelente", "Perderam minha mala de novo",
])
def test_portuguese_and_spanish_texts_do_not(text):
    assert not looks_english(text)


def test_the_api_says_so_beside_the_answer(client):
    body = client.post("/api/v1/sentiment", json={"texts": ["Great crew, thanks!", "Perderam minha mala de novo"]})
    assert [result["looks_english"] for result in body.get_json()["results"]] == [True, False]


def test_the_page_warns_in_the_reader_s_language(client):
    page = client.post("/sentiment", data={"text": "Perderam minha mala de novo"},
                       headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert "Este texto não parece estar em inglês" in page
    english = client.post("/sentiment", data={"text": "Lost my bag again"}).get_data(as_text=True)
    assert "does not look English" not in english

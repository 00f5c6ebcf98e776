"""Movies found by their Brazilian release title (data/recommend/titles_pt_BR.csv) on the API and the page."""
import html

import pandas as pd
import pytest
import skops.io as sio

from mlapi.recommend import use_case
from mlapi.recommend.model import Recommender, folded, search_movies
from mlapi.serving.model_files import load_model
from tests.recommend.test_model import DATA_DIR

AVENGERS = {"movie_id": 848228, "title": "The Avengers (2012)", "title_pt_BR": "Os Vingadores"}
PORTUGUESE = {"Accept-Language": "pt-BR"}


def found(client, q: str, limit: int = 10) -> list[dict]:
    response = client.get("/api/v1/movies", query_string={"q": q, "limit": limit})
    assert response.status_code == 200
    return response.get_json()["movies"]


def test_vingadores_finds_the_avengers_with_its_brazilian_title(client):
    movies = found(client, "vingadores")
    assert {key: movies[0][key] for key in AVENGERS} == AVENGERS
    assert movies[0]["genres"]


@pytest.mark.parametrize("q, movie_id", [
    ("VINGADORES", 848228), ("os vingadores", 848228), ("Os Vingadores", 848228),
    ("poderoso chefao", 68646), ("O PODEROSO CHEFÃO", 68646), ("poderoso chefão: parte ii", 71562),
    ("um sonho de liberdade", 111161), ("cavaleiro das trevas ressurge", 1345836),
    ("homem de aco", 770828), ("Homem de Aço", 770828), ("gravidade", 1454468), ("malvado favorito 2", 1690953),
])
def test_brazilian_titles_match_whatever_the_case_and_accents(client, q, movie_id):
    assert movie_id in [movie["movie_id"] for movie in found(client, q, 50)]


def test_english_search_still_works_and_only_titled_movies_carry_a_brazilian_title(client):
    movies = found(client, "the avengers", 50)
    assert {key: movies[0][key] for key in AVENGERS} == AVENGERS
    assert all("the avengers" in movie["title"].lower() for movie in movies)
    iron_man = found(client, "iron man 3", 1)[0]
    assert iron_man["title"] == "Iron Man 3 (2013)" and iron_man["title_pt_BR"] == "Homem de Ferro 3"
    elysium = found(client, "elysium", 1)[0]  # released in Brazil under its own title: none added
    assert set(elysium) == {"movie_id", "title", "genres"}
    homem = found(client, "homem", 50)  # an English title, or a Brazilian one, contains it
    assert all("homem" in folded(movie["title"] + movie.get("title_pt_BR", "")) for movie in homem)
    assert any("title_pt_BR" not in movie for movie in found(client, "", 50))


def test_every_brazilian_title_is_of_a_movie_in_the_catalogue():
    titles = pd.read_csv(DATA_DIR / "titles_pt_BR.csv", dtype=str, keep_default_na=False)
    movies = pd.read_csv(DATA_DIR / "movies.csv", dtype=str, keep_default_na=False).set_index("movie_id")
    assert list(titles.columns) == ["movie_id", "title_pt_BR"]
    assert 100 <= len(titles) and titles.movie_id.is_unique
    assert titles.movie_id.isin(movies.index).all(), titles.movie_id[~titles.movie_id.isin(movies.index)].tolist()
    assert titles.title_pt_BR.str.strip().eq(titles.title_pt_BR).all() and titles.title_pt_BR.ne("").all()
    originals = movies.title[titles.movie_id].str.replace(r" \(\d{4}\)$", "", regex=True).map(folded)
    assert (titles.title_pt_BR.map(folded).to_numpy() != originals.to_numpy()).all()  # only titles that differ


def test_the_page_shows_the_brazilian_title_beside_the_original_in_portuguese_only(client):
    form = {"q": "vingadores", "action": "search", "picked": ["68646"]}
    portuguese = html.unescape(client.post("/recommend", data=form, headers=PORTUGUESE).get_data(as_text=True))
    assert "The Avengers (2012) — Os Vingadores" in portuguese
    assert "The Godfather (1972) — O Poderoso Chefão" in portuguese
    english = html.unescape(client.post("/recommend", data=form).get_data(as_text=True))
    assert "The Avengers (2012)" in english and "Os Vingadores" not in english and "Chefão" not in english


def test_the_page_names_recommended_and_liked_movies_in_portuguese_too(client):
    form = {"example": "Superhero fan", "k": "20"}
    page = html.unescape(client.post("/recommend", data=form, headers=PORTUGUESE).get_data(as_text=True))
    assert "Man of Steel (2013) — O Homem de Aço" in page.split('class="recommendations"')[1]  # in "because"


def test_an_artifact_saved_before_the_brazilian_titles_reads_them_from_the_data(trained_dir, tmp_path, monkeypatch):
    model = load_model(trained_dir / "recommend" / "v1" / "model.skops", use_case.model_types)
    assert search_movies(model, "vingadores", 1)[0]["title_pt_BR"] == "Os Vingadores"
    saving = Recommender.__getstate__
    monkeypatch.setattr(Recommender, "__getstate__",
                        lambda self: {k: v for k, v in saving(self).items() if k != "titles_pt_BR"})
    sio.dump(model, tmp_path / "old.skops")
    monkeypatch.undo()
    old = load_model(tmp_path / "old.skops", use_case.model_types)
    assert old.titles_pt_BR == model.titles_pt_BR  # from data/recommend/titles_pt_BR.csv, as it loaded
    assert search_movies(old, "vingadores", 1)[0]["title_pt_BR"] == "Os Vingadores"

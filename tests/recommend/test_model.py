"""The movie recommender, trained for real on a 5% sample of the users."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from mlapi.recommend.model import known_movie_ids, predict, search_movies, train

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "recommend"


@pytest.fixture(scope="module")
def trained():
    steps: list[str] = []
    result = train(DATA_DIR, sample=0.05, step=steps.append)
    result.steps = steps
    return result


@pytest.fixture(scope="module")
def model(trained):
    return trained.model


def movie_id(model, title: str) -> int:
    return search_movies(model, title, 1)[0]["movie_id"]


def superhero(model) -> list[dict]:
    titles = ["Man of Steel", "Iron Man 3", "The Avengers"]
    return [{"movie_id": movie_id(model, title), "rating": 9.0} for title in titles]


def horror(model) -> list[dict]:
    return [{"movie_id": movie_id(model, title), "rating": 9.0} for title in ["The Conjuring", "Insidious"]]


def recommended(model, ratings: list[dict], k: int = 10) -> list[dict]:
    return predict(model, [{"ratings": ratings, "k": k}])[0]["recommendations"]


def genre_overlap(recommendations: list[dict], genres: set[str]) -> float:
    return float(np.mean([len(genres & set(r["genres"])) for r in recommendations]))


def test_train_reports_steps_metrics_and_provenance(trained):
    assert trained.steps == ["read data", "fit", "evaluate"]
    metrics = trained.metrics
    assert metrics["test_users"] > 0
    for name in ("model", "all_time_popularity", "recent_popularity"):
        assert 0 <= metrics[f"{name}_ndcg@10"] <= metrics[f"{name}_hr@10"] <= 1
    assert trained.dataset["license"] == "MIT" and 0 < trained.dataset["rows"] < 100_000
    assert "method" in trained.params


def test_model_survives_pickling(model):
    request = [{"ratings": superhero(model), "k": 5}]
    assert predict(pickle.loads(pickle.dumps(model)), request) == predict(model, request)


@pytest.mark.parametrize("k", [1, 7, 50])
def test_k_respected_inputs_never_returned_and_because_from_input(model, k):
    ratings = superhero(model) + [{"movie_id": movie_id(model, "Star Trek Into Darkness"), "rating": 3.0}]
    recommendations = recommended(model, ratings, k)
    inputs = {r["movie_id"] for r in ratings}
    assert len(recommendations) == k
    assert len({r["movie_id"] for r in recommendations}) == k
    assert not inputs & {r["movie_id"] for r in recommendations}
    scores = [r["score"] for r in recommendations]
    assert scores == sorted(scores, reverse=True) and all(round(s, 4) == s for s in scores)
    for r in recommendations:
        assert set(r["because"]) <= inputs
        assert isinstance(r["title"], str) and isinstance(r["genres"], list)


def test_fold_in_follows_the_users_taste(model):
    hero, scary = superhero(model), horror(model)
    hero_recs, scary_recs = recommended(model, hero), recommended(model, scary)
    assert [r["movie_id"] for r in hero_recs] != [r["movie_id"] for r in scary_recs]

    hero_genres = {g for r in hero for g in model.genres[model.index[r["movie_id"]]]}
    assert genre_overlap(hero_recs, hero_genres) > genre_overlap(scary_recs, hero_genres)
    assert any(r["because"] for r in hero_recs)

    baseline = {r["movie_id"]: r["score"] for r in recommended(model, [], 50)}
    for r in hero_recs:
        if r["movie_id"] in baseline:
            assert r["score"] >= baseline[r["movie_id"]]


def test_batch_matches_single_requests(model):
    a, b = {"ratings": superhero(model), "k": 4}, {"ratings": horror(model), "k": 6}
    assert predict(model, [a, b]) == predict(model, [a]) + predict(model, [b])


def test_cold_start_still_gives_k_results(model):
    unrated = next(
        m for m in search_movies(model, "", 100_000)
        if "Action" in m["genres"] and model.n_ratings[model.index[m["movie_id"]]] == 0
    )
    recommendations = recommended(model, [{"movie_id": unrated["movie_id"], "rating": 10.0}], 12)
    assert len(recommendations) == 12
    explained = [r for r in recommendations if r["because"]]
    assert explained, "the genre fallback should cite the liked movie"
    for r in explained:
        assert r["because"] == [unrated["movie_id"]] and set(r["genres"]) & set(unrated["genres"])

    single_disliked = recommended(model, [{"movie_id": movie_id(model, "Man of Steel"), "rating": 2.0}], 5)
    assert len(single_disliked) == 5 and all(not r["because"] for r in single_disliked)
    assert len(recommended(model, [], 3)) == 3


def test_search_is_case_insensitive_and_most_rated_first(model):
    hits = search_movies(model, "sTaR", 8)
    assert 0 < len(hits) <= 8
    assert all("star" in h["title"].lower() or "star" in h.get("title_pt_BR", "").lower() for h in hits)
    assert any("star" not in h["title"].lower() for h in hits)  # "Bastardos Inglórios", Inglourious Basterds
    counts = [model.n_ratings[model.index[h["movie_id"]]] for h in hits]
    assert counts == sorted(counts, reverse=True)
    assert search_movies(model, "no such movie title zzz", 5) == []
    assert {h["movie_id"] for h in hits} <= known_movie_ids(model)
    assert 10_000 < len(known_movie_ids(model))


def test_search_ignores_accents_both_ways(model):
    accented = next(h for h in search_movies(model, "", 100_000) if "é" in h["title"])
    plain = accented["title"].replace("é", "e").upper()
    assert accented["movie_id"] in {h["movie_id"] for h in search_movies(model, plain[:20], 50)}
    pokemon = {h["title"] for h in search_movies(model, "POKÉMON", 50)}
    assert pokemon == {h["title"] for h in search_movies(model, "pokemon", 50)} and pokemon

"""POST /api/v1/recommend, GET /api/v1/movies and the /recommend page, on the same inputs."""
import html
import json
import re

import pytest

from mlapi.recommend.views import EXAMPLES

SUPERHERO = EXAMPLES["Superhero fan"]
RATINGS = [{"movie_id": movie_id, "rating": rating} for movie_id, rating in SUPERHERO.items()]


def recommend(client, body):
    return client.post("/api/v1/recommend", json=body)


def test_recommendations_have_the_contract_shape(client):
    body = recommend(client, {"ratings": RATINGS, "k": 7}).get_json()
    assert body["model"] == {"name": "recommend", "version": "v1"}
    assert len(body["recommendations"]) == 7
    for item in body["recommendations"]:
        assert set(item) == {"movie_id", "title", "genres", "score", "because"}
        assert isinstance(item["movie_id"], int) and item["movie_id"] not in SUPERHERO
        assert set(item["because"]) <= set(SUPERHERO)
    scores = [item["score"] for item in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)


def test_k_defaults_to_ten(client):
    assert len(recommend(client, {"ratings": RATINGS}).get_json()["recommendations"]) == 10


def test_liked_is_shorthand_for_ratings_of_ten(client):
    liked = recommend(client, {"liked": list(SUPERHERO), "k": 12}).get_json()
    rated = recommend(client, {"ratings": [{"movie_id": i, "rating": 10} for i in SUPERHERO], "k": 12}).get_json()
    assert liked == rated


def test_unknown_ids_are_named(client):
    response = recommend(client, {"liked": [770828, 999999999, 123]})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    body = response.get_json()
    assert "999999999" in body["detail"] and "123" in body["detail"] and "770828" not in body["detail"]
    assert body["errors"]["movie_id"] == ["Unknown movie id 999999999.", "Unknown movie id 123."]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"ratings": RATINGS, "k": 0}, "k"),
        ({"ratings": RATINGS, "k": 51}, "k"),
        ({"ratings": RATINGS, "k": "ten"}, "k"),
        ({"ratings": []}, "ratings"),
        ({"ratings": [{"movie_id": 770828, "rating": 11}]}, "ratings"),
        ({"ratings": [{"movie_id": 770828, "rating": -1}]}, "ratings"),
        ({"ratings": [{"movie_id": 770828}]}, "ratings"),
        ({"ratings": [{"movie_id": "0770828", "rating": 8}]}, "ratings"),
        ({"ratings": [{"movie_id": 770828, "rating": 8, "title": "x"}]}, "ratings"),
        ({"ratings": [{"movie_id": 770828, "rating": 8}, {"movie_id": 770828, "rating": 3}]}, "ratings"),
        ({"liked": [770828, 770828]}, "liked"),
        ({"liked": [1.5]}, "liked"),
        ({"liked": [770828], "ratings": RATINGS}, "_schema"),
        ({"k": 5}, "_schema"),
        ({"liked": [770828], "user": 1}, "user"),
        ({"liked": [True]}, "liked"),
        ({"liked": [-1]}, "liked"),
        ({"liked": [10**30]}, "movie_id"),
        ({"ratings": [{"movie_id": 770828, "rating": True}]}, "ratings"),
        ({"ratings": [{"movie_id": True, "rating": 8}]}, "ratings"),
        ({"ratings": RATINGS, "k": True}, "k"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(client, body, field):
    response = recommend(client, body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_movie_search(client):
    movies = client.get("/api/v1/movies?q=IRON%20man&limit=3").get_json()["movies"]
    assert 1 <= len(movies) <= 3
    assert all("iron man" in movie["title"].lower() for movie in movies)
    assert {"movie_id", "title", "genres"} <= set(movies[0]) <= {"movie_id", "title", "genres", "title_pt_BR"}
    assert client.get("/api/v1/movies?q=zzzzqqqq").get_json() == {"movies": []}
    assert len(client.get("/api/v1/movies").get_json()["movies"]) == 10  # most rated, no query
    assert client.get("/api/v1/movies?q=toy&_=12345").status_code == 200  # cache busters are ignored


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "limit=lots", "q=" + "x" * 201])
def test_movie_search_rejects_bad_queries(client, query):
    response = client.get(f"/api/v1/movies?{query}")
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def shown_json(page: str) -> dict:
    return json.loads(re.search(r"<pre class=\"code\"><code>(\{.*?)</code></pre>", page, re.S).group(1))


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_page_example_and_api_agree(client, name):
    response = client.post("/recommend", data={"example": name, "k": "10"})
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    ratings = [{"movie_id": i, "rating": r} for i, r in EXAMPLES[name].items()]
    expected = recommend(client, {"ratings": ratings, "k": 10}).get_json()
    assert shown_json(page) == expected
    for item in expected["recommendations"]:
        assert item["title"] in page
    assert "because you liked" in page


def test_page_search_add_rate_remove_and_recommend_without_javascript(client):
    searched = client.post("/recommend", data={"q": "iron man 3", "action": "search"}).get_data(as_text=True)
    searched = html.unescape(searched)
    assert 'name="add" value="1300854"' in searched and "Iron Man 3 (2013)" in searched
    added = client.post("/recommend", data={"add": "1300854", "picked": ["770828"], "rating-770828": "7"})
    page = added.get_data(as_text=True)
    assert page.count('name="picked"') == 2 and '<option value="7" selected>' in page
    removed = client.post("/recommend", data={"remove": "770828", "picked": ["770828", "1300854"]})
    assert removed.get_data(as_text=True).count('name="picked"') == 1
    form = {"action": "recommend", "picked": ["770828", "1300854"], "rating-770828": "9", "rating-1300854": "4"}
    form["k"] = "5"
    result = shown_json(html.unescape(client.post("/recommend", data=form).get_data(as_text=True)))
    ratings = [{"movie_id": 770828, "rating": 9}, {"movie_id": 1300854, "rating": 4}]
    assert result == recommend(client, {"ratings": ratings, "k": 5}).get_json()


def test_page_without_movies_explains_what_to_do(client):
    response = client.post("/recommend", data={"action": "recommend"})
    assert response.status_code == 422
    assert "None yet" in response.get_data(as_text=True)


def test_page_survives_a_hand_edited_form(client):
    response = client.post("/recommend", data={"picked": ["abc", "99999999"], "rating-abc": "x", "k": "many",
                                                "add": "zz", "action": "recommend"})
    assert response.status_code == 422  # the unknown id is refused, nothing crashes
    assert "Unknown movie id 99999999." in response.get_data(as_text=True)


def test_page_reads_odd_numbers_as_their_defaults(client):
    form = {"picked": ["770828", "²", "-1", "9" * 5000], "rating-770828": "²", "k": "٣", "add": "٣",
            "remove": "9" * 5000, "action": "recommend"}
    response = client.post("/recommend", data=form)
    assert response.status_code == 200
    expected = recommend(client, {"ratings": [{"movie_id": 770828, "rating": 10}], "k": 10}).get_json()
    assert shown_json(html.unescape(response.get_data(as_text=True))) == expected


def test_page_curl_uses_the_page_input(client):
    page = html.unescape(client.post("/recommend", data={"example": "Horror night", "k": "5"}).get_data(as_text=True))
    curl = re.search(r"-d '(.*?)'\s*</code>", page, re.S).group(1)
    body = json.loads(curl)
    assert body["k"] == 5 and [r["movie_id"] for r in body["ratings"]] == list(EXAMPLES["Horror night"])


def test_pages_load_nothing_from_another_host(client):
    markup = client.post("/recommend", data={"example": "Drama lover"}).get_data(as_text=True)
    assert not re.search(r"""(src|href)=["'](https?:)?//""", markup)
    assert "/static/recommend/recommend.js" in markup

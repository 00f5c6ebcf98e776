"""GET /api/v1/movies (search by title) and the /recommend page."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext
from werkzeug.datastructures import MultiDict

from mlapi.api.openapi import documented
from mlapi.recommend.model import movie, search_movies
from mlapi.recommend.schemas import MAX_K, MovieList, MovieSearch
from mlapi.serving import prediction
from mlapi.serving.registry import registry
from mlapi.web.forms import form_int
from mlapi.web.i18n import N_, language_tag
from mlapi.web.rendering import PagePrediction, curl_command, page_prediction, render_page

DEFAULT_RATING = 10
MAX_MOVIE_ID = 2**63 - 1  # int64's largest, as the model stores the ids; unknown ones get the API's 422
K_CHOICES = (5, 10, 20)

# Ready taste profiles: IMDb number -> rating. A name is the form's value, translated where the page shows it.
EXAMPLES = {
    N_("Superhero fan"): {770828: 9, 1300854: 8, 848228: 10, 1345836: 9},
    N_("Drama lover"): {1707386: 9, 443272: 8, 1045658: 9, 111161: 10},
    N_("Horror night"): {1457767: 9, 1288558: 8, 1922777: 8, 1591095: 7},
    N_("Family and animation"): {1690953: 9, 1453405: 9, 1217209: 8, 435761: 10},
}

# What the model's card says of its data (mlapi.recommend.model writes it), translated where /models shows it.
DATASET_WORDS = (N_("MovieTweetings 100K snapshot (Dooms, De Pessemier & Martens, 2013)"),)

# The dataset's genres (MovieTweetings', as IMDb names them), translated where the page shows them; the API's
# answers keep them in English.
GENRES = (
    N_("Action"), N_("Adult"), N_("Adventure"), N_("Animation"), N_("Biography"), N_("Comedy"), N_("Crime"),
    N_("Documentary"), N_("Drama"), N_("Family"), N_("Fantasy"), N_("Film-Noir"), N_("History"), N_("Horror"),
    N_("Music"), N_("Musical"), N_("Mystery"), N_("News"), N_("Romance"), N_("Sci-Fi"), N_("Short"), N_("Sport"),
    N_("Thriller"), N_("War"), N_("Western"),
)


@documented("Find movie ids by title", MovieList, query=MovieSearch, errors=(503,))
def movies_json():
    """Search titles: ``?q=toy&limit=10``, most rated first."""
    return jsonify(movies=find_movies(request.args))


def find_movies(args: MultiDict) -> list[dict]:
    """Movies matching the query string.

    :raises ValidationFailed: ``limit`` or ``q`` is out of range (422).
    """
    query = prediction.load(MovieSearch(), args)
    return search_movies(registry.get("recommend").model, query["q"].strip(), query["limit"])


def page():
    """Search titles, pick and rate movies, get suggestions; works without JavaScript."""
    form = request.form
    picked = picked_movies(form)
    if "example" in form:
        picked = dict(EXAMPLES.get(form["example"], {}))
    model = registry.get("recommend").model
    k = form_int(form.get("k"), 10, 1, MAX_K)
    payload = {"ratings": [{"movie_id": i, "rating": r} for i, r in picked.items()], "k": k}
    wanted = form.get("action") == "recommend" or "example" in form
    if wanted and not picked:  # nothing to recommend from: say what to do, not the API's length
        shown = PagePrediction(errors={"ratings": [gettext("Add at least one movie first.")]}, status=422)
    else:
        shown = page_prediction("recommend", payload, wanted)
    query = form.get("q", "").strip()
    curl = curl_command(request.use_case.api_path, payload if picked else request.use_case.example)
    return render_page(
        shown, curl,
        examples=EXAMPLES,
        query=query,
        matches=search_movies(model, query, 10) if query else [],
        picked=[{**movie(model, i), "rating": r} for i, r in picked.items() if i in model.index],
        titles={i: movie(model, i)["title"] for i in picked if i in model.index},
        titles_pt_BR=model.titles_pt_BR if language_tag() == "pt-BR" else {},  # shown beside the original
        genres_said={genre: gettext(genre) for genre in GENRES},  # for the search list the script draws
        k=k,
        k_choices=K_CHOICES,
    )


def picked_movies(form: MultiDict) -> dict[int, float]:
    """The movies the form carries, with their ratings, after its add or remove button."""
    picked: dict[int, float] = {}
    for value in form.getlist("picked"):
        movie_id = form_int(value, None, 1, MAX_MOVIE_ID)
        if movie_id:
            picked[movie_id] = form_int(form.get(f"rating-{movie_id}"), DEFAULT_RATING, 0, 10)
    if (added := form_int(form.get("add"), None, 1, MAX_MOVIE_ID)) and added not in picked:
        picked[added] = DEFAULT_RATING
    picked.pop(form_int(form.get("remove"), None, 1, MAX_MOVIE_ID), None)
    return picked

"""Movie recommendations from a user's own ratings, with the movies behind each suggestion."""
from mlapi.recommend import model, views
from mlapi.recommend.schemas import RecommendRequest, RecommendResult, check_known_movies
from mlapi.usecase import Route, UseCase
from mlapi.web.i18n import N_


def kept(result: dict) -> list[int]:
    """What the prediction log keeps of an answer, for feedback: the recommended movie ids, best first."""
    return [movie["movie_id"] for movie in result["recommendations"]]


use_case = UseCase(
    name="recommend",
    title=N_("Movie recommendations"),
    description=N_(
        "Takes the movies you rated (IMDb's 0-10 scale) and suggests others: what is trending, re-ranked "
        "by movies rated alike by the same people and by your genres. Each suggestion says which of "
        "your movies led to it."
    ),
    train=model.train,
    predict=model.predict,
    kept=kept,
    request_schema=RecommendRequest,
    response_schema=RecommendResult,
    example={"ratings": [{"movie_id": 770828, "rating": 9}, {"movie_id": 1300854, "rating": 8}], "k": 10},
    headline_metric="model_hr@10",
    check=check_known_movies,
    max_body_bytes=256 * 1024,
    model_types=frozenset({"mlapi.recommend.model.Recommender"}),
    package=__name__,
    page=views.page,
    routes=(Route("/api/v1/movies", views.movies_json),),
)

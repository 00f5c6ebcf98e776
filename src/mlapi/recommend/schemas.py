"""Request and response schemas of the recommendation API and the movie search."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from mlapi.errors import ValidationFailed
from mlapi.recommend.model import known_movie_ids
from mlapi.words import N_

MAX_RATINGS = 500
MAX_K = 50


def movie_id_field(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


class Rating(Schema):
    movie_id = movie_id_field(required=True, metadata={"description": "IMDb number, e.g. 1454468 for tt1454468."})
    rating = fields.Float(required=True, validate=validate.Range(0, 10), metadata={"description": "0 to 10."})


class RecommendRequest(Schema):
    """The user's taste: rated movies, or the ``liked`` shorthand (each rated 10)."""

    ratings = fields.List(fields.Nested(Rating), validate=validate.Length(min=1, max=MAX_RATINGS))
    liked = fields.List(movie_id_field(), validate=validate.Length(min=1, max=MAX_RATINGS),
                        metadata={"description": "Shorthand for ratings of 10."})
    k = fields.Integer(strict=True, load_default=10, validate=validate.Range(1, MAX_K),
                       metadata={"description": "How many movies to suggest, 1 to 50."})

    @validates_schema
    def one_taste_each_movie_once(self, data: dict, **kwargs) -> None:
        if ("ratings" in data) == ("liked" in data):
            raise ValidationError(N_("Send either 'ratings' or 'liked', not both and not neither."), "_schema")
        ids = [r["movie_id"] for r in data["ratings"]] if "ratings" in data else data["liked"]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            field = "ratings" if "ratings" in data else "liked"
            raise ValidationError(N_("Each movie once: {movies} appear more than once.").format(
                movies=", ".join(map(str, repeated))), field)

    @post_load
    def to_items(self, data: dict, **kwargs) -> dict:
        ratings = data.get("ratings") or [{"movie_id": i, "rating": 10.0} for i in data["liked"]]
        return {"items": [{"ratings": ratings, "k": data["k"]}], "batch": False}


def check_known_movies(model, items: list[dict]) -> None:
    """Refuse movie ids the model has never seen, naming them.

    :raises ValidationFailed: some ids are unknown (422).
    """
    known = known_movie_ids(model)
    unknown = [r["movie_id"] for item in items for r in item["ratings"] if r["movie_id"] not in known]
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise ValidationFailed(
            N_("Unknown movie ids: {movies}. Find ids with GET /api/v1/movies?q=<part of a title>.").format(
                movies=listed),
            {"movie_id": [N_("Unknown movie id {movie}.").format(movie=i) for i in unknown]},
        )


class MovieSearch(Schema):
    """Query string of GET /api/v1/movies; other parameters (cache busters) are ignored."""

    class Meta:
        unknown = EXCLUDE

    q = fields.String(load_default="", validate=validate.Length(max=200),
                      metadata={"description": "Part of a title or of its Brazilian title, any case or accents; "
                                               "empty lists the most rated.",
                                "example": "iron man"})
    limit = fields.Integer(load_default=10, validate=validate.Range(1, MAX_K), metadata={"example": 5})


class Movie(Schema):
    movie_id = movie_id_field(required=True, metadata={"example": 770828})
    title = fields.String(required=True, metadata={"example": "Man of Steel (2013)"})
    genres = fields.List(fields.String(), required=True, metadata={"example": ["Action", "Adventure"]})


class Recommendation(Movie):
    score = fields.Float(required=True)
    because = fields.List(movie_id_field(), required=True,
                          metadata={"description": "The input movies that led to this one."})


class RecommendResult(Schema):
    """Suggested movies, best first, never one from the input."""

    recommendations = fields.List(fields.Nested(Recommendation), required=True)


class FoundMovie(Movie):
    title_pt_BR = fields.String(metadata={"description": "Its Brazilian release title, only where one is known.",
                                          "example": "O Homem de Aço"})


class MovieList(Schema):
    movies = fields.List(fields.Nested(FoundMovie), required=True)

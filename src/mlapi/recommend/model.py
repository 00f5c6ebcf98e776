"""Movie recommendations: time-decayed item-item CF folded in on the request, blended with trending.

Data: the MovieTweetings 100K snapshot (IMDb ratings tweeted in 2013). Popularity on
Twitter moves fast, so what is trending right now is the strongest single signal;
the request's own ratings re-rank it in two ways:

* **Item-item CF, folded in**: the liked movies (rating >= 7) of the request are the
  user, so an unseen user needs no refit. Co-ratings are weighted by recency
  (older ratings fade over ``CF_DECAY_DAYS``) and heavy raters count less.
  ``cf[j] = sum_i liked_i * sum_u X[u,i] X[u,j] / (n_i^a * n_u^b * n_j^(1-a))``.
* **Genre match**: trending movies in the liked movies' genres get a boost; this is
  also the cold-start fallback (no co-ratings: popular among similar-genre movies).

``score = trend * (1 + GENRE_WEIGHT * genre) + CF_WEIGHT * cf``, each part scaled to
[0, 1]; trend is an exponentially decayed count of ratings (``TREND_DAYS``) at the end
of the data, plus a small share of all-time popularity to order the long tail.

Why: on this data CF alone barely beats all-time popularity, while what was rated in
the last day or two doubles it; item-item fold-in serves unseen users with one sparse
product and no refit, and evaluation scores with the very same code. The weights
come from a small grid on the evaluation below (the result is flat around them).
"""
from __future__ import annotations

import json
import unicodedata
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlapi.config import Config
from mlapi.usecase import Step, Trained, no_progress

LIKED = 7.0
TREND_DAYS = 1.0
RECENT_DAYS = 2.0
CF_DECAY_DAYS = 30.0
ITEM_POWER = 0.8
USER_POWER = 0.5
GENRE_WEIGHT = 1.0
CF_WEIGHT = 0.15
ALL_TIME_WEIGHT = 0.01
MIN_RATINGS = 5
TOP_K = 10
MAX_BECAUSE = 3
SEED = 42
DAY = 86400
METHOD = (
    "recency-weighted item-item CF folded in on the request's liked movies, "
    "blended with trending (ratings decayed over 1 day) boosted by genre match"
)


@dataclass
class Recommender:
    """Everything ``predict`` needs: catalogue, CF factors and trending scores at the end of the data."""

    movie_ids: np.ndarray  # (n_movies,) IMDb numbers
    titles: list[str]
    genres: list[list[str]]
    genre_matrix: sp.csr_matrix  # (n_movies, n_genres), rows scaled to unit length
    left: sp.csr_matrix  # (n_movies, n_users): item scaling, transposed ratings, user scaling
    right: sp.csr_matrix  # (n_users, n_movies): ratings, candidate scaling
    popularity: np.ndarray  # (n_movies,) trend plus a little all-time popularity, in [0, 1.01]
    n_ratings: np.ndarray  # (n_movies,)
    index: dict[int, int]  # IMDb number -> row
    titles_pt_BR: dict[int, str]  # IMDb number -> Brazilian release title, for the few movies that have one

    def __getstate__(self) -> dict:
        """Saved with the titles and genres as JSON text and without the index (rebuilt at load) or the folded
        titles (at the first search): skops writes each item of a Python list or dict as a node of its own, slow
        to read back."""
        state = {**self.__dict__, "titles": json.dumps(self.titles), "genres": json.dumps(self.genres),
                 "titles_pt_BR": json.dumps(self.titles_pt_BR)}
        del state["index"]
        state.pop("_folded", None)
        return state

    def __setstate__(self, state: dict) -> None:
        """The Brazilian titles travel in the artifact, like the English ones; one trained before them reads
        them from the project's data folder, so an upgrade finds "Vingadores" without training again."""
        if "titles_pt_BR" in state:
            brazilian = {int(movie_id): title for movie_id, title in json.loads(state["titles_pt_BR"]).items()}
        else:
            brazilian = read_titles_pt_BR(Path(Config.DATA_DIR) / "recommend")
        self.__dict__.update(state, titles=json.loads(state["titles"]), genres=json.loads(state["genres"]),
                             titles_pt_BR=brazilian)
        self.index = {int(movie_id): row for row, movie_id in enumerate(self.movie_ids)}


@dataclass
class Ratings:
    """Rating events sorted by time, with users and movies as row numbers."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    time: np.ndarray
    n_users: int
    n_items: int


def read_movies(data_dir: Path) -> pd.DataFrame:
    """The catalogue: ``movie_id`` (int), ``title``, ``genres`` (list of str)."""
    movies = pd.read_csv(data_dir / "movies.csv", dtype=str, keep_default_na=False)
    movies["movie_id"] = movies.movie_id.astype(int)
    movies["genres"] = [g.split("|") if g else [] for g in movies.genres]
    return movies


def read_titles_pt_BR(data_dir: Path) -> dict[int, str]:
    """IMDb number -> Brazilian release title, from the hand-curated ``titles_pt_BR.csv`` (see SOURCE.md); none
    where the file is not (an installed copy without the data)."""
    if not (data_dir / "titles_pt_BR.csv").is_file():
        return {}
    titles = pd.read_csv(data_dir / "titles_pt_BR.csv", dtype=str, keep_default_na=False)
    return dict(zip(titles.movie_id.astype(int), titles.title_pt_BR, strict=True))


def read_ratings(data_dir: Path, movies: pd.DataFrame) -> Ratings:
    """All the ratings, in time order."""
    frame = pd.read_csv(data_dir / "ratings.csv", dtype={"movie_id": str})
    frame = frame.sort_values("timestamp", kind="stable")
    row_of = pd.Series(np.arange(len(movies)), index=movies.movie_id)
    _, user = np.unique(frame.user_id.to_numpy(), return_inverse=True)
    return Ratings(
        user=user,
        item=row_of[frame.movie_id.astype(int)].to_numpy(),
        rating=frame.rating.to_numpy(dtype=float),
        time=frame.timestamp.to_numpy(dtype=np.int64),
        n_users=int(user.max()) + 1,
        n_items=len(movies),
    )


def sampled(ratings: Ratings, sample: float) -> Ratings:
    """The ratings to fit on: those of a seeded ``sample`` fraction of the users, whole (all of them at 1).

    Only fitting shrinks: the evaluation holds out from all the ratings whatever ``sample`` is.
    """
    if sample >= 1.0:
        return ratings
    users = np.random.default_rng(SEED).permutation(ratings.n_users)[:round(sample * ratings.n_users)]
    keep = np.isin(ratings.user, users)
    return replace(ratings, user=ratings.user[keep], item=ratings.item[keep], rating=ratings.rating[keep],
                   time=ratings.time[keep])


def genre_matrix(movies: pd.DataFrame) -> sp.csr_matrix:
    """One-hot genres per movie, each row scaled to unit length (empty rows stay zero)."""
    names = sorted({g for genres in movies.genres for g in genres})
    column = {name: j for j, name in enumerate(names)}
    rows = np.repeat(np.arange(len(movies)), [len(g) for g in movies.genres])
    cols = [column[g] for genres in movies.genres for g in genres]
    onehot = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(movies), len(names)))
    counts = np.asarray(onehot.sum(axis=1)).ravel()
    return sp.diags(1 / np.sqrt(np.maximum(counts, 1))) @ onehot


def cf_factors(ratings: Ratings, end: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``left`` and ``right`` with ``cf = liked @ left @ right``, from the first ``end`` ratings.

    Weights fade with age relative to the last rating; a common factor cancels out
    when scores are scaled, so the newest rating is the reference.
    """
    time = ratings.time[:end]
    weight = np.exp((time - time[-1]) / (CF_DECAY_DAYS * DAY))
    shape = (ratings.n_users, ratings.n_items)
    x = sp.csr_matrix((weight, (ratings.user[:end], ratings.item[:end])), shape=shape)
    item_mass = np.bincount(ratings.item[:end], weights=weight, minlength=ratings.n_items)
    user_mass = np.bincount(ratings.user[:end], weights=weight, minlength=ratings.n_users)
    left = sp.diags(safe_power(item_mass, -ITEM_POWER)) @ x.T @ sp.diags(safe_power(user_mass, -USER_POWER))
    right = x @ sp.diags(safe_power(item_mass, ITEM_POWER - 1))
    return left.tocsr(), right.tocsr()


def safe_power(values: np.ndarray, power: float) -> np.ndarray:
    """``values ** power``, and 0 where ``values`` is 0."""
    out = np.zeros_like(values, dtype=float)
    np.power(values, power, out=out, where=values > 0)
    return out


def scale_rows(scores: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Each row divided by its maximum over the allowed candidates (rows of zeros stay zero)."""
    top = np.where(excluded, 0.0, scores).max(axis=1, keepdims=True)
    return scores / np.where(top > 0, top, 1.0)


def genre_affinity(liked: sp.csr_matrix, genres: sp.csr_matrix) -> np.ndarray:
    """(n_users, n_movies) in [0, 1]: how well each movie's genres match the liked movies' genres."""
    profile = np.asarray((liked @ genres).todense())
    norms = np.linalg.norm(profile, axis=1, keepdims=True)
    return np.asarray(genres @ (profile / np.where(norms > 0, norms, 1.0)).T).T


def blend(popularity: np.ndarray, cf: np.ndarray, genre: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """Final scores, with movies the user already rated at minus infinity."""
    score = popularity * (1 + GENRE_WEIGHT * genre) + CF_WEIGHT * scale_rows(cf, excluded)
    return np.where(excluded, -np.inf, score)


def decayed_counts(ratings: Ratings, now: np.ndarray, start: np.ndarray, days: float, decay: bool) -> np.ndarray:
    """(len(now), n_items): ratings in ``[start, now)`` per movie, decayed by age or just counted."""
    first = np.searchsorted(ratings.time, start, side="left")
    stop = np.searchsorted(ratings.time, now, side="left")
    rows, events = spans(first, stop)
    weight = np.exp(-(now[rows] - ratings.time[events]) / (days * DAY)) if decay else np.ones(len(events))
    shape = (len(now), ratings.n_items)
    return sp.coo_matrix((weight, (rows, ratings.item[events])), shape=shape).toarray()


def spans(first: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For half-open ranges ``[first[k], stop[k])``: (k, position) for every position in them."""
    lengths = np.maximum(stop - first, 0)
    rows = np.repeat(np.arange(len(first)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, np.repeat(first, lengths) + offsets


def trend(ratings: Ratings, now: np.ndarray, all_time: np.ndarray) -> np.ndarray:
    """(len(now), n_items): decayed recent ratings scaled to [0, 1], plus a little all-time popularity."""
    recent = decayed_counts(ratings, now, now - 8 * TREND_DAYS * DAY, TREND_DAYS, decay=True)
    peak = np.maximum(recent.max(axis=1, keepdims=True), 1e-12)
    top = np.maximum(all_time.max(axis=-1, keepdims=True), 1)
    return recent / peak + ALL_TIME_WEIGHT * all_time / top


def train(data_dir: Path, sample: float = 1.0, step: Step = no_progress) -> Trained:
    """Fit on the ``sample``'s ratings (serving "now" = their last one) and measure leave-last-liked-out on all."""
    step("read data")
    movies = read_movies(data_dir)
    ratings = read_ratings(data_dir, movies)
    training = sampled(ratings, sample)

    step("fit")
    left, right = cf_factors(training, len(training.time))
    n_ratings = np.bincount(training.item, minlength=training.n_items)
    now = np.array([training.time[-1] + 1])
    model = Recommender(
        movie_ids=movies.movie_id.to_numpy(),
        titles=movies.title.tolist(),
        genres=movies.genres.tolist(),
        genre_matrix=genre_matrix(movies),
        left=left,
        right=right,
        popularity=trend(training, now, n_ratings.astype(float))[0],
        n_ratings=n_ratings,
        index={int(m): i for i, m in enumerate(movies.movie_id)},
        titles_pt_BR=read_titles_pt_BR(data_dir),
    )

    step("evaluate")
    metrics = evaluate(ratings, training, model.genre_matrix)
    dataset = {
        "name": "MovieTweetings 100K snapshot (Dooms, De Pessemier & Martens, 2013)",
        "rows": int(len(training.time)),
        "license": "MIT",
        "source": "github.com/sidooms/MovieTweetings snapshots/100K, via phanvinh0526/movie_tweetings@74e0872",
    }
    params = {
        "method": METHOD,
        "liked_threshold": LIKED,
        "trend_decay_days": TREND_DAYS,
        "cf_decay_days": CF_DECAY_DAYS,
        "cf_item_power": ITEM_POWER,
        "cf_user_power": USER_POWER,
        "genre_weight": GENRE_WEIGHT,
        "cf_weight": CF_WEIGHT,
        "all_time_weight": ALL_TIME_WEIGHT,
        "users": len(np.unique(training.user)),
        "movies": ratings.n_items,
    }
    return Trained(model=model, metrics=metrics, dataset=dataset, params=params)


def evaluate(ratings: Ratings, training: Ratings, genres: sp.csr_matrix) -> dict:
    """HR@10 and NDCG@10 for the last liked rating of every user with >= 5 ratings.

    The held-out ratings, and each test user's own ratings before theirs, come from all
    ``ratings``; what is fitted or counted (CF, trend, popularity) from ``training`` only,
    so a sample changes the model measured, never what it is measured on.
    Every unrated movie is a candidate. No leakage: trend, recent and all-time
    popularity are counted at the exact test time; the CF part is fitted on the
    ratings before the test day (UTC), so test users are grouped by day.
    """
    tests = held_out(ratings)
    if not len(tests):
        return {"method": METHOD, "test_users": 0}
    by_user = np.argsort(ratings.user, kind="stable")
    first = np.searchsorted(ratings.user[by_user], np.arange(ratings.n_users + 1))
    ranks = {"model": [], "all_time_popularity": [], "recent_popularity": []}
    days = ratings.time // DAY
    for day in np.unique(days[tests]):
        group = tests[days[tests] == day]
        for name, rank in rank_day(ratings, training, group, int(day * DAY), by_user, first, genres).items():
            ranks[name].append(rank)
    return summarise({name: np.concatenate(parts) for name, parts in ranks.items()})


def held_out(ratings: Ratings) -> np.ndarray:
    """Per user with >= MIN_RATINGS ratings: the position of their last liked rating."""
    counts = np.bincount(ratings.user, minlength=ratings.n_users)
    liked = np.flatnonzero(ratings.rating >= LIKED)
    last = np.full(ratings.n_users, -1)
    np.maximum.at(last, ratings.user[liked], liked)
    return np.sort(last[(counts >= MIN_RATINGS) & (last >= 0)])


def rank_day(ratings: Ratings, training: Ratings, tests: np.ndarray, start: int, by_user: np.ndarray,
             first: np.ndarray, genres: sp.csr_matrix) -> dict[str, np.ndarray]:
    """0-based rank of each held-out movie among the user's unrated movies, per scorer; the day begins at ``start``."""
    n, users, target = len(tests), ratings.user[tests], ratings.item[tests]
    rows, events = spans(first[users], first[users + 1])
    events = by_user[events]
    shape = (n, ratings.n_items)
    excluded = sp.coo_matrix((events != tests[rows], (rows, ratings.item[events])), shape=shape).toarray() > 0
    before = events < tests[rows]
    liked_weight = before & (ratings.rating[events] >= LIKED)
    liked = sp.csr_matrix((liked_weight.astype(float), (rows, ratings.item[events])), shape=shape)
    now = ratings.time[tests]
    cut = int(np.searchsorted(training.time, start))
    earlier = np.bincount(training.item[:cut], minlength=ratings.n_items)
    all_time = earlier + decayed_counts(training, now, np.full(n, start), 1.0, decay=False)
    recent = decayed_counts(training, now, now - int(RECENT_DAYS * DAY), 1.0, decay=False)
    cf = np.zeros(shape)
    if cut > 0:
        left, right = cf_factors(training, cut)
        cf = (liked @ left @ right).toarray()
    popularity = trend(training, now, all_time)
    scores = {
        "model": blend(popularity, cf, genre_affinity(liked, genres), excluded),
        "all_time_popularity": all_time,
        "recent_popularity": recent + all_time / (all_time.max() + 1),
    }
    return {name: rank_of(score, excluded, target) for name, score in scores.items()}


def rank_of(scores: np.ndarray, excluded: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Expected 0-based rank of ``target`` per row among non-excluded movies (ties split evenly)."""
    scores = np.where(excluded, -np.inf, scores)
    mine = scores[np.arange(len(target)), target][:, None]
    return (scores > mine).sum(axis=1) + ((scores == mine).sum(axis=1) - 1) / 2


def summarise(ranks: dict[str, np.ndarray]) -> dict:
    """HR@10 and NDCG@10 per scorer, and the model's ratios to both baselines."""
    metrics: dict = {"method": METHOD, "test_users": int(len(ranks["model"]))}
    for name, rank in ranks.items():
        hit = rank < TOP_K
        metrics[f"{name}_hr@10"] = round(float(hit.mean()), 4)
        metrics[f"{name}_ndcg@10"] = round(float(np.where(hit, 1 / np.log2(rank + 2), 0).mean()), 4)
    for name in ("all_time_popularity", "recent_popularity"):
        base = metrics[f"{name}_hr@10"]
        metrics[f"hr@10_vs_{name}"] = round(metrics["model_hr@10"] / base, 3) if base else None
    return metrics


def predict(model: Recommender, items: list[dict]) -> list[dict]:
    """The top ``k`` unrated movies for each request's ratings, with the input movies behind each."""
    request = np.repeat(np.arange(len(items)), [len(item["ratings"]) for item in items])
    movie = np.array([model.index[r["movie_id"]] for item in items for r in item["ratings"]], dtype=int)
    liked = np.array([r["rating"] >= LIKED for item in items for r in item["ratings"]], dtype=float)
    shape = (len(items), len(model.movie_ids))
    excluded = sp.coo_matrix((np.ones(len(movie)), (request, movie)), shape=shape).toarray() > 0
    liked_matrix = sp.csr_matrix((liked, (request, movie)), shape=shape)
    contributions = (sp.diags(liked) @ model.left[movie] @ model.right).tocsr()  # one row per input movie
    owner = sp.csr_matrix((np.ones(len(movie)), (request, np.arange(len(movie)))), shape=(len(items), len(movie)))
    cf = (owner @ contributions).toarray()
    scores = blend(model.popularity[None, :], cf, genre_affinity(liked_matrix, model.genre_matrix), excluded)
    results = []
    for row, item in enumerate(items):
        top = top_k(scores[row], item["k"])
        mine = np.flatnonzero(request == row)
        because = explain(model, movie[mine], liked[mine], contributions[mine][:, top].toarray(), top)
        results.append({"recommendations": [
            describe(model, j, scores[row, j], reasons) for j, reasons in zip(top, because, strict=True)
        ]})
    return results


def describe(model: Recommender, j: int, score: float, because: list[int]) -> dict:
    """One recommendation as the API returns it."""
    return {"movie_id": int(model.movie_ids[j]), "title": model.titles[j], "genres": model.genres[j],
            "score": round(float(score), 4), "because": because}


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first."""
    best = np.argpartition(-scores, k - 1)[:k]
    return best[np.argsort(-scores[best], kind="stable")]


def explain(model: Recommender, movie: np.ndarray, liked: np.ndarray, contributions: np.ndarray,
            top: np.ndarray) -> list[list[int]]:
    """Per recommendation, up to MAX_BECAUSE input movies: its CF neighbours, else liked movies of a shared genre."""
    overlap = (model.genre_matrix[movie] @ model.genre_matrix[top].T).toarray() * liked[:, None]
    evidence = np.where(contributions.max(axis=0, initial=0.0) > 0, contributions, overlap)  # (n_inputs, len(top))
    reasons = []
    for column in evidence.T:
        order = np.argsort(-column, kind="stable")[:MAX_BECAUSE]
        reasons.append([int(model.movie_ids[movie[i]]) for i in order if column[i] > 0])
    return reasons


def known_movie_ids(model: Recommender) -> AbstractSet[int]:
    """The IMDb numbers the model can take as input (a set view, no copy)."""
    return model.index.keys()


def folded(text: str) -> str:
    """``text`` without case or accents: "Amélie" and "AMELIE" are both "amelie"."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def folded_titles(model: Recommender) -> tuple[list[str], list[tuple[int, str]]]:
    """The model's titles, and its Brazilian titles as (row, title), folded once per loaded model."""
    titles = model.__dict__.get("_folded")
    if titles is None:
        titles = model.__dict__["_folded"] = (
            [folded(title) for title in model.titles],
            [(model.index[movie_id], folded(title)) for movie_id, title in model.titles_pt_BR.items()],
        )
    return titles


def search_movies(model: Recommender, q: str, limit: int) -> list[dict]:
    """Movies whose title or Brazilian title contains ``q``, whatever its case and accents, most-rated first."""
    needle = folded(q)
    english, brazilian = folded_titles(model)
    hits = [i for i, title in enumerate(english) if needle in title] + [i for i, title in brazilian if needle in title]
    hits = np.unique(np.array(hits, dtype=int))
    hits = hits[np.lexsort((hits, -model.n_ratings[hits]))][:limit]
    return [movie(model, int(model.movie_ids[i])) for i in hits]


def movie(model: Recommender, movie_id: int) -> dict:
    """One catalogue entry: ``movie_id``, ``title`` (with its year), ``genres``, and ``title_pt_BR`` if it has one."""
    row = model.index[movie_id]
    entry = {"movie_id": movie_id, "title": model.titles[row], "genres": model.genres[row]}
    if movie_id in model.titles_pt_BR:
        entry["title_pt_BR"] = model.titles_pt_BR[movie_id]
    return entry

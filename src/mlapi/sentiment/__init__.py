"""Sentiment analysis: positive, neutral or negative, with the words that decided it."""
from mlapi.sentiment import model, publishing, views
from mlapi.sentiment.schemas import SentimentRequest, SentimentResult
from mlapi.usecase import UseCase
from mlapi.web.i18n import N_


def kept(result: dict) -> dict:
    """What the prediction log keeps of an answer, for feedback: the label and its probability."""
    return {"label": result["label"], "score": result["score"]}


use_case = UseCase(
    name="sentiment",
    title=N_("Sentiment analysis"),
    description=N_(
        "Reads a short English text, such as a tweet to an airline, and says whether it is "
        "positive, neutral or negative, how sure it is, and which words decided it."
    ),
    train=model.train,
    predict=model.predict,
    outcome=model.outcome,
    kept=kept,
    request_schema=SentimentRequest,
    response_schema=SentimentResult,
    example={"text": "The crew was lovely and we landed early. Thank you!"},
    headline_metric="accuracy",
    max_body_bytes=6 * 1024 * 1024,  # a full batch of 1,000 texts of 5,000 ASCII characters
    model_types=frozenset({"mlapi.sentiment.model.SentimentModel"}),
    package=__name__,
    publishing=publishing.publishing,
    page=views.page,
)

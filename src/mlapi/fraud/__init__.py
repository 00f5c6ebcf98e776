"""Card fraud detection: the probability a transaction is fraudulent, the decision and why."""
from mlapi.fraud import model, publishing, views
from mlapi.fraud.schemas import FraudRequest, FraudResult
from mlapi.usecase import UseCase
from mlapi.web.i18n import N_

# The first legitimate transaction of the dataset (its V1..V28 are anonymised PCA components).
EXAMPLE_TRANSACTION = {
    "Time": 4855.0, "V1": -0.859781070398987, "V2": 1.0322879108206, "V3": 1.96200391260055,
    "V4": 1.07884599108541, "V5": 0.542301878339093, "V6": -0.385794979891717, "V7": 0.470521245507959,
    "V8": -0.142605503408539, "V9": 0.592896407040232, "V10": -0.583115881713631, "V11": 0.105000775666241,
    "V12": -2.84471444708122, "V13": 1.63522382492988, "V14": 1.67487773469638, "V15": 0.568444787528559,
    "V16": 0.0355581793319615, "V17": 0.360920366812368, "V18": 0.266337329569311, "V19": 0.599229963982591,
    "V20": -0.0521833910852916, "V21": -0.448595470469565, "V22": -1.12433924711995, "V23": -0.202307558866996,
    "V24": -0.230251201711408, "V25": 0.117740607839238, "V26": -0.595905267073407, "V27": -0.028956594303357,
    "V28": 0.0533139736110007, "Amount": 21.05,
}


def kept(result: dict) -> dict:
    """What the prediction log keeps of an answer, for feedback: the decision at the threshold and the probability."""
    return {"is_fraud": result["is_fraud"], "score": result["fraud_probability"]}


use_case = UseCase(
    name="fraud",
    title=N_("Card fraud"),
    description=N_(
        "Scores a card transaction (the dataset's Time, V1..V28 and Amount): the probability that it is fraud, "
        "the decision at the chosen threshold, a risk level, and the features that pushed the score most."
    ),
    train=model.train,
    predict=model.predict,
    outcome=model.outcome,
    kept=kept,
    request_schema=FraudRequest,
    response_schema=FraudResult,
    example={"transaction": EXAMPLE_TRANSACTION},
    headline_metric="roc_auc",
    max_body_bytes=2 * 1024 * 1024,
    model_types=frozenset({"mlapi.fraud.model.FraudModel"}),
    package=__name__,
    publishing=publishing.publishing,
    page=views.page,
)

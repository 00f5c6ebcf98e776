"""Ground truth and live quality: feedback on answered predictions, and how right each version was on it.

    truths.py    per use case: the field that carries the true outcome, how it is checked, what it adds up to
    feedback.py  the ``feedback`` table; finding the prediction a request id names; storing the truth
    live.py      ``live_quality`` and ``held_out`` (what alerts, /metrics and the API read)
    routes.py    ``POST /api/v1/feedback``, ``GET /api/v1/models/<name>/quality``
    schemas.py   their request and response schemas

The prediction log keeps what each answered item predicted (``UseCase.kept``, never the input); feedback
names a prediction by its request id and position and gives the truth, and a feedback row keeps both, with
what the metrics add up, so a window's quality is a few sums in the database. docs/quality.md says it for people.
"""

"""Train a fraud model on the card transactions and publish it to mlapi as a new version.

Run it from the repository (you need pandas, scikit-learn and skops; not mlapi itself):

    MLAPI_KEY=mlapi_... python examples/publish_fraud.py --note "standardised logistic regression"

MLAPI_KEY is an admin key, or a client key an admin created with
`flask --app mlapi keys create NAME --publish`. The script prints the new version's card as JSON:
the server chose your model's threshold on the validation split and measured it on the test split.
Try it before it serves with `POST /api/v1/fraud?version=vN` and your key; an admin activates it
with `PUT /api/v1/models/fraud/active {"version": "vN"}`.

In a notebook, call main with a list of arguments: main(["--note", "my first model"]).
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pandas as pd
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# The repository's data/fraud/ (in a notebook there is no __file__: pass --data instead).
REPOSITORY = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
DATA = REPOSITORY / "data" / "fraud"
FEATURES = ["Time", *(f"V{i}" for i in range(1, 29)), "Amount"]  # the 30 columns the API sends


def training_part(data_dir: Path) -> pd.DataFrame:
    """The 60% of the transactions the server uses for neither threshold nor metrics: its contract's split."""
    frame = pd.read_csv(Path(data_dir) / "creditcard_sample.csv")
    rest, _test = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame["Class"])
    train, _validation = train_test_split(rest, test_size=0.25, random_state=42, stratify=rest["Class"])
    return train  # the server picks the threshold on _validation and measures on _test: never fit on them


def train(data_dir: Path):
    """Standardise each column, then a logistic regression: a linear model, so the server explains its
    answers exactly (each feature's contribution in log-odds). Fitted on a DataFrame: the model remembers
    the column names, and the server hands it the 30 features by name."""
    train_rows = training_part(data_dir)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(train_rows[FEATURES], train_rows["Class"])  # classes_ 0 (legitimate) and 1 (fraud)


def publish(url: str, key: str, name: str, model_file: Path, note: str) -> dict:
    """POST the skops file as multipart form data (fields 'model' and 'note'); the server's card."""
    boundary = uuid.uuid4().hex
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode(),
        note.encode(), b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"; filename="{name}.skops"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode(),
        Path(model_file).read_bytes(), b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ])
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/v1/models/{name}/versions", data=body, method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:  # the server checks the model: seconds
        return json.load(response)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train a fraud model and publish it to mlapi.")
    parser.add_argument("--data", type=Path, default=DATA, help="the folder with creditcard_sample.csv")
    parser.add_argument("--url", default=os.environ.get("MLAPI_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--note", default="", help="what this model is, in a line (at most 500 characters)")
    parser.add_argument("--out", type=Path, default=Path("fraud.skops"), help="where the skops file goes")
    args = parser.parse_args(argv)
    key = os.environ.get("MLAPI_KEY")
    if not key:
        parser.error("set MLAPI_KEY to a key that may publish")

    started = time.perf_counter()
    model = train(args.data)
    sio.dump(model, args.out)  # skops, never pickle: the server refuses pickles
    print(f"trained in {time.perf_counter() - started:.1f} s, saved {args.out}; publishing...", file=sys.stderr)

    sent = time.perf_counter()
    try:
        card = publish(args.url, key, "fraud", args.out, args.note)
    except urllib.error.HTTPError as error:  # 4xx/5xx: the problem's detail says what to fix
        try:
            detail = json.loads(error.read()).get("detail")
        except ValueError:
            detail = None
        print(f"{error.code} {error.reason}: {detail or 'no detail'}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"cannot reach {args.url}: {error.reason}", file=sys.stderr)
        return 1
    print(f"fraud {card['version']} published: the server checked and measured it in "
          f"{time.perf_counter() - sent:.2f} s", file=sys.stderr)
    print(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

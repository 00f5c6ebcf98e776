"""Train a sentiment model on the airline tweets and publish it to mlapi as a new version.

Run it from the repository (you need pandas, scikit-learn and skops; not mlapi itself):

    MLAPI_KEY=mlapi_... python examples/publish_sentiment.py --note "tf-idf 1-2 grams + logistic regression"

MLAPI_KEY is an admin key, or a client key an admin created with
`flask --app mlapi keys create NAME --publish`. The script prints the new version's card as JSON:
the server measured your model on the held-out tweets. Try it before it serves with
`POST /api/v1/sentiment?version=vN` and your key; an admin activates it with
`PUT /api/v1/models/sentiment/active {"version": "vN"}`.

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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

# The repository's data/sentiment/ (in a notebook there is no __file__: pass --data instead).
REPOSITORY = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
DATA = REPOSITORY / "data" / "sentiment"


def training_part(data_dir: Path) -> pd.DataFrame:
    """The 80% of the tweets the server does NOT measure on: the same split as the server's contract."""
    tweets = pd.read_csv(Path(data_dir) / "airline_tweets.csv")
    train, _test = train_test_split(tweets, test_size=0.2, random_state=42, stratify=tweets["airline_sentiment"])
    return train  # never fit on _test: the server measures every version on exactly those rows


def train(data_dir: Path):
    """TF-IDF over words and word pairs, then a logistic regression: a linear model, so the server
    explains its answers exactly (each word's share of the score)."""
    train_rows = training_part(data_dir)
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=3, sublinear_tf=True),  # min_df=3 keeps the file small
        LogisticRegression(C=2.0, max_iter=1000),
    )
    # predict_proba must take a list of raw texts; the labels are the strings negative/neutral/positive.
    return model.fit(train_rows["text"], train_rows["airline_sentiment"])


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
    parser = argparse.ArgumentParser(description="Train a sentiment model and publish it to mlapi.")
    parser.add_argument("--data", type=Path, default=DATA, help="the folder with airline_tweets.csv")
    parser.add_argument("--url", default=os.environ.get("MLAPI_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--note", default="", help="what this model is, in a line (at most 500 characters)")
    parser.add_argument("--out", type=Path, default=Path("sentiment.skops"), help="where the skops file goes")
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
        card = publish(args.url, key, "sentiment", args.out, args.note)
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
    print(f"sentiment {card['version']} published: the server checked and measured it in "
          f"{time.perf_counter() - sent:.2f} s", file=sys.stderr)
    print(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

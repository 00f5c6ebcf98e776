"""Train a chest X-ray classifier on PneumoniaMNIST and publish it to mlapi as a new version.

Run it from the repository (you need NumPy, scikit-learn and skops; not mlapi itself):

    MLAPI_KEY=mlapi_... python examples/publish_xray.py --note "logistic regression on raw pixels"

MLAPI_KEY is an admin key, or a client key an admin created with
`flask --app mlapi keys create NAME --publish`. The script prints the new version's card as JSON:
the server measured your model on the official test split (and val). Try it before it serves with
`POST /api/v1/xray?version=vN` and your key; an admin activates it with
`PUT /api/v1/models/xray/active {"version": "vN"}`.

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

import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression

# The repository's data/xray/ (in a notebook there is no __file__: pass --data instead).
REPOSITORY = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd()
DATA = REPOSITORY / "data" / "xray"


def training_part(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The official train split, as the API hands images to a model: 784 floats in [0, 1] per image."""
    with np.load(Path(data_dir) / "pneumoniamnist.npz") as data:
        images, labels = data["train_images"], data["train_labels"]
    # (n, 28, 28) uint8 -> (n, 784) floats, row by row; labels (n, 1) -> (n,): 0 normal, 1 pneumonia.
    # The server measures on test_images (and val_images): never fit on them.
    return images.reshape(-1, 28 * 28) / 255, labels.ravel()


def train(data_dir: Path):
    """A strongly regularised logistic regression on the raw pixels (a few seconds). class_weight
    balances normal and pneumonia, which the training images are not."""
    x, y = training_part(data_dir)
    return LogisticRegression(C=0.01, class_weight="balanced", max_iter=1000).fit(x, y)


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
    parser = argparse.ArgumentParser(description="Train a chest X-ray classifier and publish it to mlapi.")
    parser.add_argument("--data", type=Path, default=DATA, help="the folder with pneumoniamnist.npz")
    parser.add_argument("--url", default=os.environ.get("MLAPI_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--note", default="", help="what this model is, in a line (at most 500 characters)")
    parser.add_argument("--out", type=Path, default=Path("xray.skops"), help="where the skops file goes")
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
        card = publish(args.url, key, "xray", args.out, args.note)
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
    print(f"xray {card['version']} published: the server checked and measured it in "
          f"{time.perf_counter() - sent:.2f} s", file=sys.stderr)
    print(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

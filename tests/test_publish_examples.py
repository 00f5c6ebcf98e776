"""The example scripts in examples/ end to end, against real gunicorn: train, publish, try, activate, roll back.

Each script runs as a student runs it (a subprocess, only MLAPI_KEY and --url from us). The test then
measures the model the script saved, itself, on the use case's held-out split and checks the card's
metrics are exactly those; tries the version before activation with the publishing key; activates it
with an admin key; and rolls back with ``flask --app mlapi models rollback`` (every worker follows
within a few seconds). Run with ``-s`` to see how long each upload took to be answered.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from mlapi import create_app
from mlapi.access.keys import create_key
from mlapi.catalog import USE_CASES
from mlapi.config import Config
from mlapi.fraud.model import FEATURES, choose_threshold, held_out_metrics, read_data
from mlapi.fraud.model import split as fraud_split
from mlapi.sentiment.model import split as sentiment_split
from tests.conftest import release
from tests.servers import ROOT, gunicorn, request

DATA = Path(Config.DATA_DIR)
PUBLISHER, ADMIN, READER = "student-ana", "teacher", "student-bo"  # READER: a client key that may not publish
SWITCH_SECONDS = 10  # workers sync once a second; a switch must reach every one well within this
IN_A_ROW = 8  # consecutive answers that must agree (each on a new connection, which either worker may take)
EXAMPLES = {use_case.name: use_case.example for use_case in USE_CASES}


@pytest.fixture(scope="module")
def server(trained_dir, tmp_path_factory):
    """One gunicorn (2 workers) on a private copy of the session's trained artifacts; its port, settings, keys."""
    folder = tmp_path_factory.mktemp("publish_examples")
    artifacts = shutil.copytree(trained_dir, folder / "artifacts")
    settings = {"ARTIFACTS_DIR": artifacts, "DATABASE_URL": f"sqlite:///{folder / 'mlapi.db'}", "LOG_LEVEL": "WARNING",
                "RATELIMIT_STORAGE": f"mlapi+lmdb:///{folder / 'ratelimits'}?map_mb=1",
                "RATELIMIT_ANONYMOUS": "1000000/minute", "RATELIMIT_CLIENT": "1000000/minute",
                "RATELIMIT_ANONYMOUS_ITEMS": "1000000/minute", "RATELIMIT_CLIENT_ITEMS": "1000000/minute",
                "PUBLISH_CONCURRENCY": 4}  # slots are machine-wide: another suite's uploads must not make ours wait
    app = create_app({**settings, "SYNC_SECONDS": 0, "USAGE_FLUSH_SECONDS": 0, "LOG_FLUSH_SECONDS": 0,
                      "REQUEST_LOG_FLUSH_SECONDS": 0})
    with app.app_context():
        keys = {PUBLISHER: create_key(PUBLISHER, "client", None, None, can_publish=True),
                ADMIN: create_key(ADMIN, "admin"), READER: create_key(READER, "client")}
    release(app)
    with gunicorn(settings, workers=2) as port:
        yield port, settings, keys


def run_example(name: str, port: int, key: str, note: str, out: Path) -> tuple[dict, float]:
    """Run examples/publish_<name>.py as a student would; its card and how long the server took to answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAPI_")}
    env["MLAPI_KEY"] = key
    command = [sys.executable, str(ROOT / "examples" / f"publish_{name}.py"), "--url", f"http://127.0.0.1:{port}",
               "--note", note, "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the example failed:\n{done.stderr[-3000:]}"
    answered = re.search(r"checked and measured it in ([\d.]+) s", done.stderr)
    assert answered, done.stderr
    return json.loads(done.stdout), float(answered.group(1))


def example_module(name: str):
    """examples/publish_<name>.py imported (its code runs only under main())."""
    spec = importlib.util.spec_from_file_location(f"publish_{name}", ROOT / "examples" / f"publish_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def loaded(path: Path):
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def check_sentiment(model, card: dict) -> None:
    """Accuracy, macro F1 and F1 per class on the held-out 20% of the tweets, which the script never saw."""
    _, test_part, _ = sentiment_split(DATA / "sentiment")
    trained_on = example_module("sentiment").training_part(DATA / "sentiment")
    assert trained_on.index.intersection(test_part.index).empty
    labels = np.array([str(label) for label in model.classes_])
    predicted = labels[model.predict_proba(test_part.text.tolist()).argmax(axis=1)]
    metrics = card["metrics"]
    assert metrics["test_rows"] == len(test_part) == 2928
    assert metrics["accuracy"] == round(accuracy_score(test_part.label, predicted), 4)
    assert metrics["macro_f1"] == round(f1_score(test_part.label, predicted, average="macro"), 4)
    per_class = f1_score(test_part.label, predicted, average=None, labels=labels)
    assert metrics["f1_per_class"] == {label: round(value, 4) for label, value in zip(labels, per_class, strict=True)}
    assert card["explanation_method"] == "linear"


def check_fraud(model, card: dict) -> None:
    """The threshold chosen on the validation split, ROC-AUC and the rest on the test split."""
    frame = read_data(DATA / "fraud")
    fit_rows, validation, test = fraud_split(frame)
    assert example_module("fraud").training_part(DATA / "fraud").index.equals(fit_rows.index)
    validation_p = np.round(model.predict_proba(validation[FEATURES])[:, 1], 4)
    threshold = choose_threshold(validation["Class"].to_numpy(), validation_p)
    test_p = np.round(model.predict_proba(test[FEATURES])[:, 1], 4)
    metrics = card["metrics"]
    assert metrics["threshold"] == card["params"]["threshold"] == threshold
    assert metrics["roc_auc"] == round(roc_auc_score(test["Class"], test_p), 4)
    assert metrics == json.loads(json.dumps(held_out_metrics(frame, test, test_p, threshold)))
    assert card["explanation_method"] == "linear"


def check_xray(model, card: dict) -> None:
    """Accuracy, ROC-AUC, sensitivity and specificity at 0.5 on the official test split, and on val."""
    with np.load(DATA / "xray" / "pneumoniamnist.npz") as data:
        splits = {part: (data[f"{part}_images"], data[f"{part}_labels"].ravel()) for part in ("test", "val")}
    metrics = card["metrics"]
    for part, prefix in (("test", ""), ("val", "val_")):
        images, labels = splits[part]
        p = model.predict_proba(images.reshape(-1, 784) / 255)[:, 1]
        assert metrics[f"{prefix}roc_auc"] == round(roc_auc_score(labels, p), 4)
        assert metrics[f"{prefix}accuracy"] == round(accuracy_score(labels, p >= 0.5), 4)
        assert metrics[f"{prefix}sensitivity"] == round(float((p[labels == 1] >= 0.5).mean()), 4)
        assert metrics[f"{prefix}specificity"] == round(float((p[labels == 0] < 0.5).mean()), 4)
    assert metrics["test_rows"] == 624 and metrics["threshold"] == 0.5


CHECKS = {"sentiment": check_sentiment, "fraud": check_fraud, "xray": check_xray}
HEADLINE = {"sentiment": ("accuracy", "macro_f1"), "fraud": ("roc_auc", "threshold"), "xray": ("roc_auc", "accuracy")}


def answer(port: int, name: str, key: str | None = None, query: str = "") -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    status, _, body = request(port, "POST", f"/api/v1/{name}{query}", EXAMPLES[name], headers)
    assert status == 200, body
    return body


def served_within(port: int, name: str, version: str, seconds: float = SWITCH_SECONDS) -> float:
    """Seconds until IN_A_ROW plain predictions in a row answer with ``version`` (fails after ``seconds``)."""
    started = time.monotonic()
    agreeing = 0
    while agreeing < IN_A_ROW:
        agreeing = agreeing + 1 if answer(port, name)["model"] == {"name": name, "version": version} else 0
        assert time.monotonic() - started < seconds, f"{name} did not serve {version} on every worker in {seconds} s"
        if not agreeing:
            time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.parametrize("name", ["sentiment", "fraud", "xray"])
def test_example_publishes_a_model_that_is_measured_tried_activated_and_rolled_back(server, name, tmp_path):
    port, settings, keys = server
    note = f"examples/publish_{name}.py, run by the test — «naïve» first try"  # UTF-8 survives the multipart body
    out = tmp_path / f"{name}.skops"
    assert answer(port, name)["model"]["version"] == "v1"  # the trained version serves

    card, seconds = run_example(name, port, keys[PUBLISHER], note, out)
    shown = {metric: card["metrics"][metric] for metric in HEADLINE[name]}
    print(f"\n{name}: upload to 201 in {seconds:.2f} s ({card['size_bytes']:,} bytes, latency p50 "
          f"{card['latency_ms']['p50']} ms); {shown}")
    version = card["version"]
    assert card["name"] == name and version != "v1"
    assert card["source"] == "published" and card["publisher"] == PUBLISHER and card["note"] == note
    assert card["size_bytes"] == out.stat().st_size and set(card["latency_ms"]) == {"p50", "p95"}
    CHECKS[name](loaded(out), card)

    # Before activation: the publisher may try it; everyone else still gets the trained version.
    tried = answer(port, name, keys[PUBLISHER], f"?version={version}")
    assert tried["model"] == {"name": name, "version": version}
    assert answer(port, name)["model"]["version"] == "v1"

    status, _, model_card = request(port, "PUT", f"/api/v1/models/{name}/active", {"version": version},
                                    {"Authorization": f"Bearer {keys[ADMIN]}"})
    assert status == 200 and model_card["active_version"] == version, model_card
    switched = served_within(port, name, version)

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLAPI_")}
    env.update({f"MLAPI_{key}": str(value) for key, value in {**settings, "SYNC_SECONDS": 0}.items()})
    rolled = subprocess.run([sys.executable, "-m", "flask", "--app", "mlapi", "models", "rollback", name],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert rolled.returncode == 0, rolled.stderr
    assert f"back to v1 (from {version})" in rolled.stdout
    back = served_within(port, name, "v1")
    print(f"{name}: every worker served {version} {switched:.1f} s after activation, v1 {back:.1f} s after rollback")


def test_a_refusal_is_the_problem_detail_on_stderr_and_exit_status_1(server, tmp_path, monkeypatch, capsys):
    """An example imported and run in-process (as in a notebook) with a key that may not publish: 403."""
    port, _, keys = server
    monkeypatch.setenv("MLAPI_KEY", keys[READER])
    status = example_module("xray").main(["--url", f"http://127.0.0.1:{port}", "--out", str(tmp_path / "x.skops")])
    said = capsys.readouterr()
    assert status == 1 and said.out == ""
    assert "403" in said.err and "This key may not publish models" in said.err

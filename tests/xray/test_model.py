"""The X-ray model alone: tiny real training on PneumoniaMNIST, then predictions."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from mlapi.xray import model

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "xray"
SAMPLE = 0.05


@pytest.fixture(scope="module")
def steps() -> list[str]:
    return []


@pytest.fixture(scope="module")
def trained(steps):
    return model.train(DATA_DIR, sample=SAMPLE, step=steps.append)


@pytest.fixture(scope="module")
def test_images() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA_DIR / model.DATA_FILE) as data:
        return data["test_images"], data["test_labels"].ravel()


def test_training_reports_steps_in_order(trained, steps):
    assert steps == ["read data", "fit", "evaluate"]


def test_training_reports_held_out_metrics_and_provenance(trained):
    metrics = trained.metrics
    for name in ("accuracy", "roc_auc", "sensitivity", "specificity", "val_accuracy", "val_roc_auc"):
        assert 0 <= metrics[name] <= 1, name
    assert metrics["roc_auc"] > 0.6  # even the tiny sample learns something
    assert metrics["test_rows"] == trained.params["test_rows"] > 0
    assert trained.params["train_rows"] == pytest.approx(4708 * SAMPLE, abs=1)
    assert set(trained.dataset) == {"name", "rows", "license", "source"}
    assert trained.dataset["rows"] == sum(trained.params[f"{split}_rows"] for split in ("train", "val", "test"))
    assert trained.dataset["license"] == "CC BY 4.0"


def test_predict_gives_consistent_label_probabilities_and_message(trained, test_images):
    images, _ = test_images
    results = model.predict(trained.model, [{"pixels": pixels} for pixels in images[:10]])
    assert len(results) == 10
    for result in results:
        assert set(result) == {"label", "probability", "probabilities", "message", "unfamiliar"}
        probabilities = result["probabilities"]
        assert set(probabilities) == {"normal", "pneumonia"}
        assert probabilities["normal"] + probabilities["pneumonia"] == pytest.approx(1, abs=1e-4)
        assert result["label"] == ("pneumonia" if probabilities["pneumonia"] >= 0.5 else "normal")
        assert result["probability"] == probabilities[result["label"]] >= 0.5
        percent = int(result["message"].rsplit(": ", 1)[1].rstrip("%"))
        assert abs(percent - 100 * result["probability"]) <= 0.5
        assert ("pneumonia" in result["message"]) == (result["label"] == "pneumonia")
        assert round(result["probability"], 4) == result["probability"]


def test_predict_ranks_the_test_split_better_than_chance(trained, test_images):
    images, labels = test_images
    results = model.predict(trained.model, [{"pixels": pixels} for pixels in images[:64]])
    pneumonia = np.array([result["probabilities"]["pneumonia"] for result in results])
    assert pneumonia[labels[:64] == 1].mean() > pneumonia[labels[:64] == 0].mean()


def test_a_batch_answers_each_item_as_if_alone_in_order(trained, test_images):
    images, _ = test_images
    items = [{"pixels": pixels} for pixels in images[:5]]
    batch = model.predict(trained.model, items)
    assert batch == [model.predict(trained.model, [item])[0] for item in items]
    assert model.predict(trained.model, []) == []


def test_the_model_survives_pickling(trained, test_images):
    images, _ = test_images
    items = [{"pixels": pixels} for pixels in images[:3]]
    restored = pickle.loads(pickle.dumps(trained.model))
    assert model.predict(restored, items) == model.predict(trained.model, items)

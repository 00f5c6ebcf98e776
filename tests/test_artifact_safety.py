"""No file dropped into artifacts/ runs code or serves by itself; a refused version is retried when it changes."""
import hashlib
import json
import os
import shutil
from pathlib import Path

import joblib
import pytest
import skops.io as sio

from mlapi import catalog
from mlapi.serving.model_files import TypeNotAllowed, load_model
from mlapi.serving.registry import ArtifactRefused, registry
from tests.test_registry import add_version, served_version

EVERY_MODEL_TYPE = frozenset().union(*(use_case.model_types for use_case in catalog.USE_CASES))


class Hostile:
    """A pickle that creates a file when it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def drop_version(artifacts: Path, version: str, model_file: str, content: bytes) -> Path:
    """A version folder as an attacker would write it: a model file and a card whose sha256 matches."""
    folder = artifacts / "sentiment" / version
    folder.mkdir()
    (folder / model_file).write_bytes(content)
    card = json.loads((artifacts / "sentiment" / "v1" / "card.json").read_text())
    card.update(version=version, sha256=hashlib.sha256(content).hexdigest())
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def hostile_pickle(tmp_path: Path) -> tuple[bytes, Path]:
    marker = tmp_path / "code-ran"
    joblib.dump(Hostile(marker), tmp_path / "hostile.joblib")
    return (tmp_path / "hostile.joblib").read_bytes(), marker


@pytest.mark.parametrize("model_file", ["model.joblib", "model.skops"])
def test_a_hostile_pickle_with_a_matching_card_never_runs(artifacts, make_app, tmp_path, model_file):
    content, marker = hostile_pickle(tmp_path)
    drop_version(artifacts, "v2", model_file, content)
    app = make_app()
    assert served_version(app.test_client()) == "v1"  # the newest folder does not serve by itself
    with app.app_context():
        registry.sync()
        with pytest.raises(ArtifactRefused, match="pickle|cannot be loaded"):
            registry.activate("sentiment", "v2")  # not even an admin can make it load
        assert registry.get("sentiment").version == "v1"
    assert not marker.exists()


@pytest.mark.parametrize("dangerous", [os.system, eval, exec, shutil.rmtree])
def test_a_skops_file_naming_a_dangerous_function_is_refused(artifacts, make_app, tmp_path, dangerous):
    sio.dump({"model": dangerous}, tmp_path / "model.skops")
    with pytest.raises(TypeNotAllowed) as refused:
        load_model(tmp_path / "model.skops", EVERY_MODEL_TYPE)
    assert refused.value.types  # named
    drop_version(artifacts, "v2", "model.skops", (tmp_path / "model.skops").read_bytes())
    app = make_app()
    with app.app_context():
        with pytest.raises(ArtifactRefused, match="not allowed"):
            registry.activate("sentiment", "v2")


def test_a_version_trained_after_the_first_start_waits_for_an_admin(artifacts, make_app):
    app = make_app()
    add_version(artifacts)
    restarted = make_app()
    assert served_version(restarted.test_client()) == "v1"
    with app.app_context():
        registry.sync()
        assert registry.get("sentiment").version == "v1"
        registry.activate("sentiment", "v2")
    assert served_version(restarted.test_client()) == "v1"
    with restarted.app_context():
        registry.sync()
    assert served_version(restarted.test_client()) == "v2"


def test_a_card_copied_before_its_model_is_retried_when_the_model_arrives(artifacts, make_app):
    app = make_app()
    version = add_version(artifacts)
    model_file = artifacts / "sentiment" / version / "model.skops"
    held = model_file.read_bytes()
    model_file.unlink()  # rsync has written the card, not yet the model
    elsewhere = make_app()  # a second worker
    with app.app_context():
        registry.choose("sentiment", version)  # the admin activates it (by hand, or from another host)
        registry.sync()
        assert registry.get("sentiment").version == "v1"
        assert any("cannot be loaded" in problem for problem in registry.health()[2])
        registry.sync()  # nothing changed: not retried
    model_file.write_bytes(held)  # the copy completes
    for worker in (app, elsewhere):
        with worker.app_context():
            registry.sync()
            assert registry.get("sentiment").version == version
            assert registry.health()[0]


def test_a_pickle_from_before_skops_says_to_train_again(artifacts, make_app):
    folder = artifacts / "sentiment" / "v1"
    joblib.dump({"old": "model"}, folder / "model.joblib")
    (folder / "model.skops").unlink()
    client = make_app().test_client()
    health = client.get("/api/v1/health").get_json()
    assert health["models"]["sentiment"] is None
    assert any("never loads" in problem and "train" in problem for problem in health["problems"])

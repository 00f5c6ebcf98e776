"""Publishing a model of one's own, with real files: hostile ones refused without a trace, honest ones served.

Every upload that reaches the checks runs a Python child (a few seconds each), so the files are built
once per module, and the versions several tests look at are published once, in ``world`` (a module's
app, never changed by a test: the tests that activate or delete copy its published folders into an
app of their own).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlapi import create_app, extensions
from mlapi.access.keys import create_key
from mlapi.catalog import USE_CASES
from mlapi.publishing import sandbox
from mlapi.publishing.publish import one_at_a_time
from mlapi.sentiment.model import CLASSES, term_of
from mlapi.server.http_guards import MULTIPART_ROOM
from tests.conftest import app_settings, release
from tests.test_openapi import check_response

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLE = next(use_case for use_case in USE_CASES if use_case.name == "sentiment").example
PUBLISHERS = {"sentiment", "fraud", "xray"}  # the use cases that take published models
BOMB_BYTES = 2 * 2**30  # the zip bomb's member, unpacked: twice the sandbox's limit
PROBLEM = "application/problem+json"


# The files: built once per module

class WritesAFile:
    """A pickle that, if it were ever unpickled, would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


class RunsAShell:
    """A pickle that, if it were ever unpickled, would run ``touch marker`` in a shell."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def zip_bomb(schema: bytes, unpacked: int = BOMB_BYTES) -> bytes:
    """A zip of ``schema`` (as schema.json) and ``unpacked`` zero bytes deflated to a few MB.

    Deflating gigabytes takes seconds, so one MiB of zeros is deflated once, ended on a byte boundary
    without the final-block bit (a full flush), and repeated: one valid deflate stream. Only the CRC
    reads every zero (about a second).
    """
    chunk = 2**20
    assert unpacked % chunk == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = block * (unpacked // chunk) + compressor.flush(zlib.Z_FINISH)
    crc, zeros = 0, bytes(chunk)
    for _ in range(unpacked // chunk):
        crc = zlib.crc32(zeros, crc)
    members = [("schema.json", zipfile.ZIP_STORED, zlib.crc32(schema), schema, len(schema)),
               ("zeros.npy", zipfile.ZIP_DEFLATED, crc, stream, unpacked)]
    out, directory = io.BytesIO(), []
    for name, method, checksum, data, size in members:
        encoded = name.encode()
        directory.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, checksum,
                                     len(data), size, len(encoded), 0, 0, 0, 0, 0, out.tell()) + encoded)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, checksum, len(data), size,
                              len(encoded), 0) + encoded + data)
    start = out.tell()
    out.write(b"".join(directory))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), out.tell() - start, start, 0))
    return out.getvalue()


@pytest.fixture(scope="module")
def tweets() -> pd.DataFrame:
    """600 airline tweets: enough for a model that passes, quick to fit."""
    frame = pd.read_csv(DATA / "sentiment" / "airline_tweets.csv", usecols=["airline_sentiment", "text"], dtype=str)
    return frame.sample(600, random_state=0).rename(columns={"airline_sentiment": "label"})


@pytest.fixture(scope="module")
def honest(tweets) -> dict[str, bytes]:
    """Sentiment models that keep the contract, as skops files."""
    two = tweets[tweets.label != "neutral"]
    models = {
        "linear": make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300)).fit(tweets.text, tweets.label),
        "linear_two": make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300)).fit(two.text, two.label),
        "forest_two": make_pipeline(TfidfVectorizer(), RandomForestClassifier(n_estimators=5, random_state=0))
        .fit(two.text, two.label),
    }
    return {name: sio.dumps(model) for name, model in models.items()}


@pytest.fixture(scope="module")
def markers(tmp_path_factory) -> Path:
    """Where a hostile file that ran would leave its mark."""
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def hostile(honest, tweets, markers) -> dict[str, bytes]:
    """Files that must never become a version."""
    rng = np.random.default_rng(0)
    raises = make_pipeline(StandardScaler(), LogisticRegression()).fit(rng.normal(size=(40, 3)),
                                                                       ["negative", "positive"] * 20)
    numbered = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300)).fit(
        tweets.text, (tweets.label == "positive").astype(int))
    narrow = LogisticRegression().fit(rng.normal(size=(60, 10)), [0, 1] * 30)
    with zipfile.ZipFile(io.BytesIO(honest["linear"])) as archive:
        schema = archive.read("schema.json")
    return {
        "pickle": pickle.dumps(WritesAFile(markers / "from-pickle")),
        "pickle_protocol_0": pickle.dumps(RunsAShell(markers / "from-old-pickle"), protocol=0),
        "callables": sio.dumps(make_pipeline(FunctionTransformer(func=os.system), FunctionTransformer(func=eval))),
        "truncated": honest["linear"][:len(honest["linear"]) // 2],
        "bomb": zip_bomb(schema),
        "raises": sio.dumps(raises),
        "numbered_classes": sio.dumps(numbered),
        "ten_columns": sio.dumps(narrow),
    }


# Helpers

def key(app, name: str, role: str = "client", publish: bool = False) -> str:
    with app.app_context():
        return create_key(name, role, None, None, can_publish=publish)


def bearer(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def upload(client, name: str, data: bytes, secret: str | None, note: str | None = None):
    form = {"model": (io.BytesIO(data), "model.skops")}
    if note is not None:
        form["note"] = note
    return client.post(f"/api/v1/models/{name}/versions", data=form, content_type="multipart/form-data",
                       headers=bearer(secret))


def tree(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, with its size: what a refusal must leave as it was."""
    return sorted(f"{path.relative_to(folder)} {path.stat().st_size if path.is_file() else '/'}"
                  for path in folder.rglob("*"))


def leftovers(tmp: Path) -> set[str]:
    """What publishing left in the temporary folder besides its checking slots (reused, never removed)."""
    return {path.name for path in tmp.iterdir() if path.name.startswith("mlapi-publish-")} - {"mlapi-publish-slots"}


def serves(client) -> None:
    response = client.post("/api/v1/sentiment", json={"text": "ok"})
    assert response.status_code == 200, response.get_data(as_text=True)


def try_version(client, version: str, secret: str | None, text: str = EXAMPLE["text"]):
    return client.post(f"/api/v1/sentiment?version={version}", json={"text": text}, headers=bearer(secret))


def problem(response, status: int) -> str:
    """The detail of ``response``, a problem+json answer with ``status``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return response.get_json()["detail"]


def refused(app, artifacts: Path, tmp: Path, data: bytes, status: int = 422, name: str = "sentiment",
            secret: str | None = None) -> str:
    """Upload ``data`` (an admin's key unless ``secret``): refused with ``status``, nothing left behind, the
    app still serving. The detail, which is also the error of the field 'model'."""
    client, before = app.test_client(), tree(artifacts)
    response = upload(client, name, data, secret or app.admin_key)
    detail = problem(response, status)
    assert response.get_json()["errors"]["model"] == [detail]
    assert tree(artifacts) == before
    assert leftovers(tmp) == set()
    serves(client)
    return detail


def install(world, artifacts: Path, *versions: str) -> None:
    """Copy the world's published sentiment ``versions`` into another app's artifacts (after it started:
    its first start recorded v1 as active)."""
    for version in versions:
        shutil.copytree(world.artifacts / "sentiment" / version, artifacts / "sentiment" / version)


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch) -> Path:
    """This test's own temporary folder, where publishing unpacks uploads and keeps its checking slots."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def admin_app(make_app):
    """``make_app`` with an admin key at ``app.admin_key``."""

    def make(**config):
        app = make_app(**config)
        app.admin_key = key(app, "teacher", "admin")
        return app

    return make


@pytest.fixture(scope="module")
def world(trained_dir, tmp_path_factory, honest):
    """One app (a client key may publish one version), where the key 'student' published the linear model
    over the API (v2) and ``flask models import`` the two-class linear one (v3). No test changes it."""
    folder = tmp_path_factory.mktemp("world")
    artifacts = Path(shutil.copytree(trained_dir, folder / "artifacts"))
    (folder / "tmp").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("MLAPI_")]:
            patch.delenv(name)
        patch.setattr(tempfile, "tempdir", str(folder / "tmp"))
        app = create_app({**app_settings(folder, artifacts), "PUBLISH_VERSIONS_PER_KEY": 1})
        app.admin_key = key(app, "teacher", "admin")
        keys = {"student": key(app, "student", publish=True), "other": key(app, "other", publish=True),
                "plain": key(app, "plain")}
        linear = upload(app.test_client(), "sentiment", honest["linear"], keys["student"],
                        note="  tf-idf + LR, 600 tweets ")
        two = folder / "two.skops"
        two.write_bytes(honest["linear_two"])
        imported = app.test_cli_runner().invoke(args=["models", "import", "sentiment", str(two), "--note", "two"])
    assert linear.status_code == 201, linear.get_data(as_text=True)
    assert imported.exit_code == 0, imported.output
    yield SimpleNamespace(app=app, artifacts=artifacts, keys=keys, linear=linear, imported=imported)
    release(app)


# Hostile files: refused, nothing built, nothing left, the app serving on

def test_a_pickle_is_never_loaded(world, hostile, markers, private_tmp):
    detail = refused(world.app, world.artifacts, private_tmp, hostile["pickle"])
    assert "pickle" in detail and "skops" in detail
    assert not (markers / "from-pickle").exists()
    pickle.loads(hostile["pickle"]).close()  # the file was live: unpickled, it leaves its mark
    assert (markers / "from-pickle").exists()


def test_a_skops_file_naming_dangerous_callables_is_refused_by_name(world, hostile, private_tmp):
    named = ["builtins.eval", "posix.system"]
    assert sorted(sio.get_untrusted_types(data=hostile["callables"])) == named  # the file really carries them
    detail = refused(world.app, world.artifacts, private_tmp, hostile["callables"])
    assert f"types mlapi does not load: {', '.join(named)}." in detail


def test_a_truncated_skops_file_is_called_damaged(world, hostile, private_tmp):
    detail = refused(world.app, world.artifacts, private_tmp, hostile["truncated"])
    assert "damaged or truncated" in detail


def test_a_zip_bomb_is_refused_before_it_is_unpacked(world, hostile, private_tmp):
    assert len(hostile["bomb"]) < 5 * 2**20
    with zipfile.ZipFile(io.BytesIO(hostile["bomb"])) as archive:  # a sound archive, as a zip reader sees it
        assert archive.namelist() == ["schema.json", "zeros.npy"]
        unpacked = sum(member.file_size for member in archive.infolist())
    assert unpacked > BOMB_BYTES
    detail = refused(world.app, world.artifacts, private_tmp, hostile["bomb"])
    assert f"unpacks to {unpacked:,} bytes" in detail and "the limit is 1,073,741,824 bytes" in detail


def test_a_model_that_fails_on_the_example_is_refused_with_its_own_error(world, hostile, private_tmp):
    model = sio.loads(hostile["raises"], trusted=sio.get_untrusted_types(data=hostile["raises"]))
    with pytest.raises(ValueError) as raised:
        model.predict_proba([EXAMPLE["text"]])
    detail = refused(world.app, world.artifacts, private_tmp, hostile["raises"])
    assert "card's example" in detail
    assert f"ValueError: {raised.value}" in detail


def test_a_sentiment_model_with_other_classes_is_refused(world, hostile, private_tmp):
    detail = refused(world.app, world.artifacts, private_tmp, hostile["numbered_classes"])
    assert "['0', '1']" in detail and "negative, neutral, positive" in detail


def test_a_fraud_model_of_ten_columns_is_refused(world, hostile, private_tmp):
    before = tree(world.artifacts / "fraud")
    detail = refused(world.app, world.artifacts, private_tmp, hostile["ten_columns"], name="fraud")
    assert "fitted on 10 columns" in detail and "sends 30" in detail
    assert tree(world.artifacts / "fraud") == before


def archive(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as written:
        for name, data in members.items():
            written.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(("members", "kind", "words"), [
    ({"schema.json": b"[" * 100_000 + b"]" * 100_000}, "damaged", "recursion"),  # a JSON nesting bomb
    ({"schema.json": b"[]"}, "not_skops", "schema.json is not a skops schema"),
    ({"model.json": b"{}"}, "not_skops", "no schema.json"),
    ({f"{n}.npy": b"" for n in range(11)} | {"schema.json": b"{}"}, "too_large", "in 12 files"),
], ids=["deep-schema", "list-schema", "no-schema", "many-members"])
def test_the_sandbox_refuses_broken_archives_by_name(tmp_path, monkeypatch, members, kind, words):
    """The sandbox's first step, in this process (no child): each answer names the problem, never a crash."""
    monkeypatch.setattr(sandbox, "MAX_MEMBERS", 10)
    path = tmp_path / "model.skops"
    path.write_bytes(archive(members))
    with pytest.raises(sandbox.Refused) as refusal:
        sandbox.open_archive(path)
    assert refusal.value.problem == kind and words in refusal.value.detail


def test_a_pickle_inside_a_skops_array_is_never_unpickled(tmp_path, markers):
    """A skops file whose arrays are object arrays holding a pickle: skops reads them without unpickling."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(io.BytesIO(sio.dumps(LogisticRegression().fit(rng.normal(size=(60, 30)), [0, 1] * 30)))) \
            as honest_file:
        members = {name: honest_file.read(name) for name in honest_file.namelist()}
    payload = np.empty(1, dtype=object)
    payload[0] = WritesAFile(markers / "from-array")
    array = io.BytesIO()
    np.save(array, payload, allow_pickle=True)
    path = tmp_path / "model.skops"
    path.write_bytes(archive({name: array.getvalue() if name.endswith(".npy") else data
                              for name, data in members.items()}))
    assert sandbox.open_archive(path)["skops"]  # a sound skops archive
    with pytest.raises(sandbox.Refused) as refusal:
        sandbox.read_model(path)
    assert refusal.value.problem == "unreadable" and "allow_pickle=False" in refusal.value.detail
    assert not (markers / "from-array").exists()
    np.load(io.BytesIO(array.getvalue()), allow_pickle=True)[0].close()  # the array was live
    assert (markers / "from-array").exists()


def test_a_file_over_the_cap_is_413(admin_app, artifacts, private_tmp):
    app = admin_app(PUBLISH_MAX_BYTES=1000)
    detail = refused(app, artifacts, private_tmp, bytes(5000), status=413)
    assert "1,000 bytes" in detail
    client = app.test_client()
    response = upload(client, "sentiment", bytes(3 * 2**20), app.admin_key)  # past the cap and a form's room
    assert f"at most {1000 + MULTIPART_ROOM:,} bytes" in problem(response, 413)
    assert leftovers(private_tmp) == set()
    serves(client)


def test_a_model_slower_than_the_time_limit_is_refused(admin_app, artifacts, private_tmp, honest):
    app = admin_app(PUBLISH_TIMEOUT_SECONDS=2)
    detail = refused(app, artifacts, private_tmp, honest["linear"])
    assert "2 s" in detail and "limit" in detail


def test_a_model_slower_than_the_latency_limit_is_refused(admin_app, artifacts, private_tmp, honest):
    app = admin_app(PUBLISH_MAX_LATENCY_MS=0.001)
    detail = refused(app, artifacts, private_tmp, honest["linear"])
    assert "ms to answer one sentiment request" in detail and "the limit is 0.001 ms" in detail


# Who may publish, and what

def test_publishing_needs_a_key_that_may_publish(world, honest):
    client = world.app.test_client()
    assert "Bearer" in problem(upload(client, "sentiment", honest["linear"], None), 401)
    assert "--publish" in problem(upload(client, "sentiment", honest["linear"], world.keys["plain"]), 403)
    assert world.linear.status_code == 201  # the key 'student', which may, published v2


@pytest.mark.parametrize("name", ["recommend", "demand"])
def test_a_use_case_without_published_models_says_which_take_them(world, honest, private_tmp, name):
    detail = refused(world.app, world.artifacts, private_tmp, honest["linear"], name=name)
    assert name in detail and all(taker in detail for taker in PUBLISHERS)


def test_an_upload_needs_a_file_and_a_short_note(world, honest):
    client = world.app.test_client()
    response = client.post("/api/v1/models/sentiment/versions", data={"note": "no file"},
                           content_type="multipart/form-data", headers=bearer(world.app.admin_key))
    assert "'model'" in problem(response, 422) and response.get_json()["errors"]["model"] == ["No file sent."]
    assert "empty" in problem(upload(client, "sentiment", b"", world.app.admin_key), 422)
    response = upload(client, "sentiment", honest["linear"], world.app.admin_key, note="x" * 501)
    problem(response, 422)
    assert "note" in response.get_json()["errors"]
    assert problem(upload(client, "nothing", honest["linear"], world.app.admin_key), 404)
    response = client.post("/api/v1/models/sentiment/versions", json={"model": "x"},
                           headers=bearer(world.app.admin_key))
    assert "multipart" in problem(response, 415)


def test_a_client_key_stops_at_its_cap(world, honest, private_tmp):
    detail = refused(world.app, world.artifacts, private_tmp, honest["linear_two"], secret=world.keys["student"])
    assert "'student' may have at most 1 published version(s) on disk and has 1" in detail and "sentiment v2" in detail


def test_a_key_has_one_upload_checked_at_a_time_and_a_second_is_a_503_at_once(world, honest, private_tmp):
    before = tree(world.artifacts)
    with one_at_a_time("student"):  # as while the student's first upload is being checked
        response = upload(world.app.test_client(), "sentiment", honest["linear_two"], world.keys["student"])
        assert "being checked already" in problem(response, 503)
        assert response.get_json()["code"] == "publish_busy" and response.headers["Retry-After"].isdigit()
        with one_at_a_time(None):  # the command line is not limited
            pass
    assert tree(world.artifacts) == before and not leftovers(private_tmp)


# Honest models: measured, recorded, listed, tried before they serve

def test_a_published_version_has_a_card_the_server_measured(world, honest):
    card = world.linear.get_json()
    assert world.linear.headers["Location"] == "/api/v1/models/sentiment"
    assert (card["name"], card["version"], card["source"]) == ("sentiment", "v2", "published")
    assert card["publisher"] == "student" and card["note"] == "tf-idf + LR, 600 tweets"
    assert card["sha256"] == hashlib.sha256(honest["linear"]).hexdigest()
    assert card["size_bytes"] == len(honest["linear"])
    assert 0 < card["latency_ms"]["p50"] <= card["latency_ms"]["p95"]
    assert card["explanation_method"] == "linear"
    assert card["libraries"]["made_with"]["scikit-learn"] == sklearn.__version__
    assert card["params"]["model"] == "TfidfVectorizer + LogisticRegression"
    assert card["dataset"]["rows"] > card["metrics"]["test_rows"] > 1000  # measured on the whole held-out split
    assert 0.4 < card["metrics"]["accuracy"] <= 1
    folder = world.artifacts / "sentiment" / "v2"
    assert (folder / "model.skops").read_bytes() == honest["linear"]
    on_disk = json.loads((folder / "card.json").read_text())
    assert on_disk["published_via"] == "api" and on_disk["sha256"] == card["sha256"]


def test_the_201_is_the_documented_answer(world):
    client = world.app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    check_response(doc, "post", "/api/v1/models/sentiment/versions", world.linear)


def test_the_model_card_lists_published_versions_and_how_to_publish(world):
    client = world.app.test_client()
    card = client.get("/api/v1/models/sentiment").get_json()
    assert card["active_version"] == "v1"  # published is not active
    versions = {entry["version"]: entry for entry in card["versions"]}
    assert versions["v1"]["source"] == "trained" and versions["v1"]["publisher"] is None
    assert versions["v2"]["source"] == versions["v3"]["source"] == "published"
    assert versions["v2"]["publisher"] == "student" and versions["v3"]["publisher"] is None  # the command line
    assert card["publish"]["accepted"] is True and "predict_proba" in card["publish"]["contract"]
    assert card["publish"]["example_script"] == "examples/publish_sentiment.py"
    assert client.get("/api/v1/models/recommend").get_json()["publish"]["accepted"] is False
    assert client.post("/api/v1/sentiment", json={"text": "ok"}).get_json()["model"]["version"] == "v1"


def test_a_version_is_tried_by_its_publisher_and_admins_only(world):
    client = world.app.test_client()
    for secret in (world.keys["student"], world.app.admin_key):
        response = try_version(client, "v2", secret)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["model"] == {"name": "sentiment", "version": "v2"}
        assert response.get_json()["explanation_method"] == "linear"
    assert "only an admin or the key that published it" in problem(try_version(client, "v2", world.keys["other"]),
                                                                   403)
    assert problem(try_version(client, "v2", world.keys["plain"]), 403)
    assert "needs a key" in problem(try_version(client, "v2", None), 401)
    assert "no version v99" in problem(try_version(client, "v99", world.app.admin_key), 404)
    assert "v2" in problem(try_version(client, "bad", world.app.admin_key), 422)
    assert try_version(client, "v1", None).get_json()["model"]["version"] == "v1"  # the active one: anyone


def test_a_two_class_model_answers_every_label(world):
    answer = try_version(world.app.test_client(), "v3", world.app.admin_key).get_json()
    assert answer["model"]["version"] == "v3" and answer["explanation_method"] == "linear"
    assert list(answer["probabilities"]) == list(CLASSES) and answer["probabilities"]["neutral"] == 0.0
    assert answer["label"] in ("negative", "positive") and answer["explanation"]


# Activating, rolling back, deleting (apps of their own)

def test_an_admin_publishes_past_any_cap_activates_and_rolls_back(make_app, honest):
    """A model that is not linear (a forest of two classes), published by an admin, then activated."""
    app = make_app(PUBLISH_VERSIONS_PER_KEY=0)
    admin, student, client = key(app, "teacher", "admin"), key(app, "student", publish=True), app.test_client()
    assert "at most 0 published" in problem(upload(client, "sentiment", honest["forest_two"], student), 422)
    response = upload(client, "sentiment", honest["forest_two"], admin)  # an admin has no cap
    assert response.status_code == 201, response.get_data(as_text=True)
    check_response(client.get("/api/openapi.json").get_json(), "post", "/api/v1/models/sentiment/versions",
                   response)
    card = response.get_json()
    assert (card["version"], card["publisher"], card["explanation_method"]) == ("v2", "teacher", "occlusion")
    assert card["params"]["model"] == "TfidfVectorizer + RandomForestClassifier"
    assert client.post("/api/v1/sentiment", json={"text": "ok"}).get_json()["model"]["version"] == "v1"

    response = client.put("/api/v1/models/sentiment/active", json={"version": "v2"}, headers=bearer(admin))
    assert response.status_code == 200 and response.get_json()["active_version"] == "v2"
    text = EXAMPLE["text"]  # "The crew was lovely and we landed early. Thank you!"
    answer = client.post("/api/v1/sentiment", json={"text": text}).get_json()
    assert answer["model"]["version"] == "v2" and answer["explanation_method"] == "occlusion"
    assert list(answer["probabilities"]) == list(CLASSES) and answer["probabilities"]["neutral"] == 0.0
    assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert answer["explanation"] and {item["term"] for item in answer["explanation"]} <= {
        term_of(word) for word in text.split()}

    result = app.test_cli_runner().invoke(args=["models", "rollback", "sentiment"])
    assert result.exit_code == 0, result.output
    assert "back to v1 (from v2)" in result.output
    assert client.post("/api/v1/sentiment", json={"text": "ok"}).get_json()["model"]["version"] == "v1"


def test_a_publisher_deletes_its_own_inactive_versions(world, make_app, artifacts):
    app = make_app()
    install(world, artifacts, "v2", "v3")
    student, other = key(app, "student", publish=True), key(app, "other", publish=True)
    admin, client = key(app, "teacher", "admin"), app.test_client()

    def delete(version, secret):
        return client.delete(f"/api/v1/models/sentiment/versions/{version}", headers=bearer(secret))

    assert problem(delete("v2", None), 401)
    assert "Only an admin or the key that published" in problem(delete("v2", other), 403)
    assert problem(delete("v3", student), 403)  # imported on the command line: an admin's to delete
    assert problem(delete("v1", student), 403)  # trained, nobody's
    assert "v1 is active" in problem(delete("v1", admin), 422)
    assert problem(delete("v99", admin), 404)
    response = delete("v2", student)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [entry["version"] for entry in response.get_json()["versions"]] == ["v1", "v3"]
    assert not any((artifacts / "sentiment" / "v2").iterdir())  # an empty folder keeps its number taken
    assert (artifacts / "sentiment" / "v3" / "card.json").is_file()
    assert delete("v3", admin).status_code == 200  # an admin deletes any inactive version
    assert not any((artifacts / "sentiment" / "v3").iterdir())
    serves(client)


def test_a_deleted_version_s_number_is_never_given_again_so_rollback_cannot_reach_a_stranger(world, make_app,
                                                                                          artifacts):
    app = make_app()
    install(world, artifacts, "v2")
    with app.app_context():
        registry = extensions.registry(app)
        registry.activate("sentiment", "v2")
        registry.activate("sentiment", "v1")
        registry.delete("sentiment", "v2")
        card = registry.save_published("sentiment", artifacts / "sentiment" / "v1" / "model.skops",
                                       {**registry.card("sentiment", "v1"), "source": "trained"})
        assert card["version"] == "v3" and registry.versions("sentiment") == ["v1", "v3"]
        assert registry.rollback_target("sentiment") is None  # v2 is gone; v3 was never active


# The command line

def test_models_import_publishes_and_refuses_like_the_api(world, tmp_path, private_tmp, hostile, markers, honest):
    assert "sentiment v3 published (TfidfVectorizer + LogisticRegression)" in world.imported.output
    assert "flask --app mlapi models activate sentiment v3" in world.imported.output
    card = json.loads((world.artifacts / "sentiment" / "v3" / "card.json").read_text())
    assert (card["publisher"], card["published_via"], card["note"]) == (None, "command line", "two")
    assert card["sha256"] == hashlib.sha256(honest["linear_two"]).hexdigest()

    bad, runner = tmp_path / "old.pkl", world.app.test_cli_runner()
    bad.write_bytes(hostile["pickle_protocol_0"])
    before = tree(world.artifacts)
    result = runner.invoke(args=["models", "import", "sentiment", str(bad)])
    assert result.exit_code == 1
    assert "Error: The file is not a skops file" in result.output
    assert not (markers / "from-old-pickle").exists()
    result = runner.invoke(args=["models", "import", "sentiment", str(bad), "--note", "x" * 501])
    assert result.exit_code == 2 and "at most 500 characters" in result.output
    assert tree(world.artifacts) == before and leftovers(private_tmp) == set()


def test_keys_create_publish_makes_a_key_that_may_publish(make_app):
    app = make_app()
    runner, client, made = app.test_cli_runner(), app.test_client(), {}
    for name, flags in (("student", ["--publish"]), ("reader", [])):
        result = runner.invoke(args=["keys", "create", name, *flags])
        assert result.exit_code == 0, result.output
        made[name] = result.stdout.splitlines()[0]
    listed = {line.split()[0]: line.split() for line in runner.invoke(args=["keys", "list"]).output.splitlines()[1:]}
    assert listed["student"][1:3] == ["client", "yes"]
    assert listed["reader"][1:3] == ["client", "no"]
    assert "empty" in problem(upload(client, "sentiment", b"", made["student"]), 422)  # past the key's check
    assert problem(upload(client, "sentiment", b"", made["reader"]), 403)


def test_what_a_file_states_reaches_the_card_and_the_answer_bounded():
    assert sandbox.version_text("1.9.1") == "1.9.1" and sandbox.version_text(2) == 2
    assert sandbox.version_text("9" * 100) is None and sandbox.version_text("1.0<script>") is None
    assert len(sandbox.Refused("contract", "classes " * 10_000).detail) == sandbox.MAX_DETAIL + 1

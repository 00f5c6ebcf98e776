"""Model lifecycle: activate, rollback, delete, training that does not switch, and hot swap in-process."""
import pytest

from mlapi.serving.registry import ArtifactRefused, registry
from tests.conftest import SAMPLE


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def train(runner, *extra):
    result = runner.invoke(args=["train", "sentiment", "--sample", str(SAMPLE), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def active(app) -> str:
    with app.app_context():
        return registry.active_version("sentiment")


def test_training_keeps_the_active_version_unless_asked(app, runner):
    assert "sentiment: v1 is active" in train(runner)
    assert active(app) == "v1"
    assert "sentiment: v3 is active" in train(runner, "--activate")
    assert active(app) == "v3"


def test_rollback_walks_back_along_the_activations_never_forth(app, runner):
    train(runner)
    train(runner)
    for version in ("v2", "v3"):
        assert runner.invoke(args=["models", "activate", "sentiment", version]).exit_code == 0
    with app.app_context():
        assert registry.rollback_target("sentiment") == "v2"
    assert runner.invoke(args=["models", "rollback", "sentiment"]).output.strip() == "sentiment: back to v2 (from v3)"
    assert runner.invoke(args=["models", "rollback", "sentiment"]).output.strip() == "sentiment: back to v1 (from v2)"
    refused = runner.invoke(args=["models", "rollback", "sentiment"])
    assert refused.exit_code != 0 and "no earlier active version" in refused.output
    assert runner.invoke(args=["models", "activate", "sentiment", "v3"]).exit_code == 0
    assert "back to v1 (from v3)" in runner.invoke(args=["models", "rollback", "sentiment"]).output
    listing = runner.invoke(args=["models", "list", "sentiment"]).output
    assert "* v1" in listing and "  v3" in listing and "  v2" in listing and "recommend" not in listing


def test_rollback_without_history_is_refused(runner):
    result = runner.invoke(args=["models", "rollback", "sentiment"])
    assert result.exit_code != 0 and "no earlier active version" in result.output


def test_delete_never_the_active_one(app, runner, artifacts):
    train(runner)
    refused = runner.invoke(args=["models", "delete", "sentiment", "v1"])
    assert refused.exit_code != 0 and "is active" in refused.output
    assert runner.invoke(args=["models", "delete", "sentiment", "v2"]).exit_code == 0
    assert not any((artifacts / "sentiment" / "v2").iterdir())  # its empty folder keeps the number taken
    assert runner.invoke(args=["models", "delete", "sentiment", "v2"]).exit_code != 0
    assert "sentiment v3 held-out metrics" in train(runner)  # never v2 again


def test_rollback_skips_deleted_versions(app, runner):
    train(runner)
    train(runner)
    for version in ("v2", "v3"):
        assert runner.invoke(args=["models", "activate", "sentiment", version]).exit_code == 0
    assert runner.invoke(args=["models", "delete", "sentiment", "v2"]).exit_code == 0
    assert "back to v1" in runner.invoke(args=["models", "rollback", "sentiment"]).output


def test_another_worker_switches_on_its_next_sync(make_app, runner):
    serving_elsewhere = make_app()  # a second process on the same database and artifacts
    train(runner)
    assert runner.invoke(args=["models", "activate", "sentiment", "v2"]).exit_code == 0
    with serving_elsewhere.app_context():
        assert registry.get("sentiment").version == "v1"
        registry.sync()
        assert registry.get("sentiment").version == "v2"
    body = serving_elsewhere.test_client().post("/api/v1/sentiment", json={"text": "ok"}).get_json()
    assert body["model"]["version"] == "v2"


def test_a_corrupt_version_never_becomes_active(make_app, runner, artifacts):
    serving_elsewhere = make_app()
    train(runner)
    model_file = artifacts / "sentiment" / "v2" / "model.skops"
    model_file.write_bytes(model_file.read_bytes()[:-10])
    refused = runner.invoke(args=["models", "activate", "sentiment", "v2"])
    assert refused.exit_code != 0 and "sha256" in refused.output
    with serving_elsewhere.app_context():
        registry.choose("sentiment", "v2")  # even if the database is pointed at it by hand
        registry.sync()
        assert registry.get("sentiment").version == "v1"
        assert any("sha256" in problem for problem in registry.health()[2])
        with pytest.raises(ArtifactRefused):
            registry.activate("sentiment", "v2")

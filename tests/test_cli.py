"""flask --app mlapi train | models, through Flask's CLI runner on a temporary folder."""
import json

from tests.conftest import SAMPLE


def test_train_writes_a_new_version_and_prints_metrics(app, artifacts):
    result = app.test_cli_runner().invoke(args=["train", "sentiment", "--sample", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "sentiment v2 held-out metrics" in result.output and "accuracy:" in result.output
    card = json.loads((artifacts / "sentiment" / "v2" / "card.json").read_text())
    assert str(card["metrics"]["accuracy"]) in result.output


def test_train_missing_skips_what_is_trained(app, artifacts):
    result = app.test_cli_runner().invoke(args=["train", "all", "--missing"])
    assert result.exit_code == 0 and "skipped" in result.output
    assert not (artifacts / "sentiment" / "v2").exists()


def test_train_rejects_an_unknown_name(app):
    result = app.test_cli_runner().invoke(args=["train", "astrology"])
    assert result.exit_code != 0 and "astrology" in result.output


def test_models_list_and_activate(app, artifacts):
    runner = app.test_cli_runner()
    runner.invoke(args=["train", "sentiment", "--sample", str(SAMPLE)])
    assert runner.invoke(args=["models", "activate", "sentiment", "v1"]).exit_code == 0
    listing = runner.invoke(args=["models", "list"]).output
    assert "* v1" in listing and "  v2" in listing
    refused = runner.invoke(args=["models", "activate", "sentiment", "v9"])
    assert refused.exit_code != 0 and "no version v9" in refused.output

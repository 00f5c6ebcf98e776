"""``train --sample`` shrinks what a model is fitted on, never the split it is measured on (issue 26)."""
import json

import pytest

from mlapi.recommend import model as recommend
from tests.servers import ROOT

FULL_TEST_ROWS = {"sentiment": 2928, "fraud": 1083, "xray": 624}
FULL_TRAINING_ROWS = {"sentiment": ("train_rows", 14712), "fraud": ("split", 3247), "xray": ("train_rows", 4708)}


@pytest.mark.parametrize("name", sorted(FULL_TEST_ROWS))
def test_a_sample_shrinks_the_training_rows_and_keeps_the_whole_test_split(trained_dir, name):
    card = json.loads((trained_dir / name / "v1" / "card.json").read_text())
    assert card["metrics"]["test_rows"] == FULL_TEST_ROWS[name]
    key, full = FULL_TRAINING_ROWS[name]
    trained_on = card["params"][key]["fit"] if key == "split" else card["params"][key]
    assert trained_on < full / 4


def test_a_recommend_sample_fits_on_fewer_users_and_holds_out_the_same_ratings(trained_dir):
    card = json.loads((trained_dir / "recommend" / "v1" / "card.json").read_text())
    full = recommend.train(ROOT / "data" / "recommend", sample=1.0)  # about 8 s
    assert card["metrics"]["test_users"] == full.metrics["test_users"] > 4000
    assert card["dataset"]["rows"] < full.dataset["rows"] / 4 and card["params"]["users"] < full.params["users"] / 4

import pytest

from components.common.config import ConfigError, EvaluateConfig
from components.common.io import read_json
from components.evaluate.evaluate import EVALUATION_FILE, blessing, run_evaluate


def test_blessing_is_accuracy_at_least_the_threshold():
    config = EvaluateConfig(accuracy_threshold=0.8)
    assert blessing({"accuracy": 0.8}, config) == (True, "test accuracy 0.8000 >= threshold 0.8")
    assert blessing({"accuracy": 0.7999}, config)[0] is False
    with pytest.raises(ConfigError, match="--accuracy-threshold=1.5"):
        EvaluateConfig(accuracy_threshold=1.5)


def test_run_evaluate_scores_every_raw_test_review(
    tmp_path, ingested_dir, transformed, trained_model_dir
):
    output = str(tmp_path / "evaluation")
    result = run_evaluate(
        EvaluateConfig(accuracy_threshold=0.9),
        ingested_dir,
        transformed["graph"],
        trained_model_dir,
        output,
    )
    metrics = result["metrics"]
    assert metrics["examples"] == 120  # 60 positive and 60 negative generated test reviews.
    assert sum(map(sum, metrics["confusion_matrix"])) == 120
    assert metrics["accuracy"] > 0.8 and metrics["auc"] > 0.85
    assert result["blessed"] == (metrics["accuracy"] >= 0.9)
    assert read_json(f"{output}/{EVALUATION_FILE}") == result

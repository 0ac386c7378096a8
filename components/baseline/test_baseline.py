import warnings

from components.baseline.baseline import run_baseline
from components.common.artifacts import BASELINE_FILE
from components.common.io import read_json


def test_baseline_learns_the_generated_reviews_and_records_its_metrics(tmp_path, ingested_dir):
    output = str(tmp_path / "baseline")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_baseline(ingested_dir, output, seed=42)
    # Keras knows each split's length and that the data shuffles itself: it has nothing to warn.
    assert not [w for w in caught if issubclass(w.category, UserWarning)]
    assert read_json(f"{output}/{BASELINE_FILE}") == result
    metrics = result["metrics"]
    assert metrics["examples"] == 120
    # The sentiment words are plain unigrams; even the few batches of 240 generated train
    # reviews take a linear model far above chance (0.5).
    assert metrics["accuracy"] > 0.8 and metrics["auc"] > 0.9
    assert 1 <= result["epochs_trained"] <= 10

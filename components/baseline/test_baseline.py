import math
import warnings

import numpy as np
import pytest

from components.baseline.baseline import make_nbsvm, read_reviews, run_baseline
from components.common.artifacts import BASELINE_FILE
from components.common.io import read_json


def test_baseline_learns_the_generated_reviews_and_records_its_metrics(tmp_path, ingested_dir):
    output = str(tmp_path / "baseline")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_baseline(ingested_dir, output, seed=42)
    # scikit-learn is given settings it supports in this version: nothing is deprecated.
    assert not [w for w in caught if issubclass(w.category, (UserWarning, FutureWarning))]
    assert read_json(f"{output}/{BASELINE_FILE}") == result
    assert result["model"].startswith("NBSVM")
    metrics = result["metrics"]
    assert metrics["examples"] == 120
    # The sentiment words are plain unigrams; 240 generated train reviews take a linear model
    # far above chance (0.5) on eval and test.
    assert metrics["accuracy"] > 0.9 and metrics["auc"] > 0.95
    assert result["eval_accuracy"] > 0.8
    assert result["features"] > 100  # Unigrams, bigrams and punctuation of the filler words.
    # Recomputed from the records ingest wrote (read with the step's own reader): the same model
    # fitted on train alone, its eval accuracy, and its test accuracy and AUC by their definitions.
    model = make_nbsvm(seed=42).fit(*read_reviews(ingested_dir, "train"))
    eval_texts, eval_labels = read_reviews(ingested_dir, "eval")
    eval_accuracy = np.mean(model.predict(eval_texts) == eval_labels)
    assert result["eval_accuracy"] == pytest.approx(eval_accuracy)
    test_texts, test_labels = read_reviews(ingested_dir, "test")
    probabilities = model.predict_proba(test_texts)[:, 1]
    assert metrics["accuracy"] == pytest.approx(np.mean((probabilities >= 0.5) == test_labels))
    above = probabilities[test_labels == 1][:, np.newaxis] - probabilities[test_labels == 0]
    assert metrics["auc"] == pytest.approx(np.mean(above > 0) + 0.5 * np.mean(above == 0))
    # The generated reviews are easy (accuracy and AUC near 1 whatever the model learned from):
    # the log loss tells this model's probabilities apart.
    log_likelihoods = np.where(test_labels == 1, probabilities, 1 - probabilities)
    assert metrics["loss"] == pytest.approx(-np.mean(np.log(log_likelihoods)))


def test_log_count_ratios_match_a_hand_computation():
    texts = ["Good movie<br />", "good, good!", "bad movie"]
    model = make_nbsvm(seed=0).fit(texts, [1, 1, 0])
    names = list(model.named_steps["ngrams"].get_feature_names_out())
    ratios = dict(zip(names, model.named_steps["log_count_ratios"].log_count_ratios_, strict=True))
    # Binary counts per feature (a review counts a feature once: "good, good!" counts "good"
    # once), plus the smoothing 1. "<br />" is a line break, not tokens. Tokens of "good, good!"
    # are good , good ! : bigrams "good ,", ", good", "good !" (never "good good").
    positive = {"good": 3, "movie": 2, "good movie": 2, ",": 2, "!": 2, "good ,": 2}
    positive |= {", good": 2, "good !": 2, "bad": 1, "bad movie": 1}
    negative = {"good": 1, "movie": 2, "good movie": 1, ",": 1, "!": 1, "good ,": 1}
    negative |= {", good": 1, "good !": 1, "bad": 2, "bad movie": 2}
    assert sorted(names) == sorted(positive)
    positive_total, negative_total = sum(positive.values()), sum(negative.values())
    for name in names:
        expected = math.log((positive[name] / positive_total) / (negative[name] / negative_total))
        assert ratios[name] == pytest.approx(expected), name
    # The scaled features are the ratios themselves where a review has the n-gram.
    scaled = model[:-1].transform(["bad"]).toarray()[0]
    assert scaled[names.index("bad")] == pytest.approx(ratios["bad"])
    assert sum(scaled != 0) == 1

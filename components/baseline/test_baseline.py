import math
import warnings

import numpy as np
import pytest

from components.baseline import baseline
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


def test_a_train_split_past_the_bound_is_sampled_uniformly_and_reproducibly(ingested_dir):
    texts, labels = read_reviews(ingested_dir, "train")  # All 234, in file order.
    sample = read_reviews(ingested_dir, "train", seed=3, at_most=50)
    assert len(sample[0]) == 50 and len(sample[1]) == 50
    by_text = dict(zip(texts, labels, strict=True))
    assert all(by_text[text] == label for text, label in zip(*sample, strict=True))
    assert len(set(sample[0])) == 50  # Drawn without replacement.
    # From the whole split, not its first 50; the same for a seed, another for another seed.
    assert max(texts.index(text) for text in sample[0]) >= 100
    assert sample[0] == read_reviews(ingested_dir, "train", seed=3, at_most=50)[0]
    assert sample[0] != read_reviews(ingested_dir, "train", seed=4, at_most=50)[0]
    # Within the bound, the whole split in file order.
    assert read_reviews(ingested_dir, "train", seed=3, at_most=len(texts))[0] == texts


def test_the_baseline_fits_on_at_most_the_bound_and_scores_every_review(
    monkeypatch, tmp_path, ingested_dir
):
    monkeypatch.setattr(baseline, "MAX_TRAIN_REVIEWS", 100)
    monkeypatch.setattr(baseline, "READ_BATCH", 32)  # Eval (66) and test (120) in batches.
    result = run_baseline(ingested_dir, str(tmp_path / "baseline"), seed=42)
    assert result["train_reviews"] == 100
    assert result["metrics"]["examples"] == 120
    model = make_nbsvm(seed=42).fit(*read_reviews(ingested_dir, "train", 42, at_most=100))
    test_texts, test_labels = read_reviews(ingested_dir, "test")
    probabilities = model.predict_proba(test_texts)[:, 1]
    assert result["metrics"]["accuracy"] == pytest.approx(
        np.mean((probabilities >= 0.5) == test_labels)
    )
    assert result["metrics"]["loss"] == pytest.approx(
        -np.mean(np.log(np.where(test_labels == 1, probabilities, 1 - probabilities)))
    )

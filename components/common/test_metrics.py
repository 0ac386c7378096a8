import itertools

import numpy as np
import pytest

from components.common.metrics import classification_metrics, error_metrics, roc_auc, roc_curve


def brute_force_auc(labels, scores):
    """The share of (positive, negative) pairs ranked correctly, ties counting half."""
    pairs = [(p, n) for p, n in itertools.product(scores[labels == 1], scores[labels == 0])]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_metrics_by_hand():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    probabilities = np.array([0.9, 0.6, 0.4, 0.2, 0.7, 0.1, 0.3, 0.8])
    metrics = classification_metrics(labels, probabilities)
    # Predicted positive: 0.9, 0.6, 0.7, 0.8 -> TP 3 (0.9, 0.6, 0.8), FP 1 (0.7), FN 1 (0.4).
    assert metrics["confusion_matrix"] == [[3, 1], [1, 3]]
    assert metrics["accuracy"] == 6 / 8
    assert metrics["precision"] == 3 / 4
    assert metrics["recall"] == 3 / 4
    assert metrics["f1"] == pytest.approx(3 / 4)
    expected_loss = -np.mean(
        labels * np.log(probabilities) + (1 - labels) * np.log(1 - probabilities)
    )
    assert metrics["loss"] == pytest.approx(expected_loss)
    assert metrics["auc"] == pytest.approx(brute_force_auc(labels, probabilities))


def test_auc_with_ties_matches_pair_counting():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.5 + labels * 0.3, 1)  # Heavily tied scores.
    assert roc_auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores))


def test_auc_of_a_perfect_and_an_inverted_ranking():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0


def test_roc_curve_runs_from_origin_to_one_one():
    labels = np.array([0, 1, 0, 1])
    curve = roc_curve(labels, np.array([0.2, 0.9, 0.6, 0.4]))
    assert (curve["fpr"][0], curve["tpr"][0]) == (0.0, 0.0)
    assert (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)
    assert curve["fpr"] == sorted(curve["fpr"]) and curve["tpr"] == sorted(curve["tpr"])


def test_error_metrics_by_hand():
    metrics = error_metrics(np.array([100.0, 200.0, 400.0]), np.array([110.0, 190.0, 400.0]))
    assert metrics["rmse"] == pytest.approx(np.sqrt(200 / 3))
    assert metrics["mae"] == pytest.approx(20 / 3)
    assert metrics["mape"] == pytest.approx(100 * (0.1 + 0.05 + 0) / 3)
    # Percentages of values around zero say nothing: no MAPE when the actuals change sign.
    assert error_metrics(np.array([-1.0, 1.0]), np.array([0.0, 0.0]))["mape"] is None

"""Metrics in plain numpy: binary classification over labels and predicted probabilities, and
a forecast's errors."""

from __future__ import annotations

import numpy as np

# Keras clips probabilities the same way in binary cross-entropy.
_EPSILON = 1e-7
ROC_POINTS = 101


def roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outranks a random negative."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(probabilities, kind="mergesort")
    sorted_scores = probabilities[order]
    ranks = np.empty(len(labels), dtype=np.float64)
    ranks[order] = np.arange(1, len(labels) + 1)
    # Tied scores share their average rank.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first[counts > 1], counts[counts > 1], strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    positive_rank_sum = ranks[labels == 1].sum()
    return float((positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def roc_curve(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, list[float]]:
    """False and true positive rates at ROC_POINTS evenly spaced thresholds from 1 to 0.

    Counted by binary search in each class's sorted probabilities: memory grows with the
    examples, not with examples times thresholds.
    """
    thresholds = np.linspace(1.0, 0.0, ROC_POINTS)
    probabilities = np.asarray(probabilities, dtype=np.float64)

    def share_at_or_above(scores: np.ndarray) -> list[float]:
        above = len(scores) - np.searchsorted(np.sort(scores), thresholds, side="left")
        return (above / max(len(scores), 1)).tolist()

    return {
        "thresholds": thresholds.tolist(),
        "fpr": share_at_or_above(probabilities[labels == 0]),
        "tpr": share_at_or_above(probabilities[labels == 1]),
    }


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict:
    """Accuracy, AUC, precision, recall, F1, loss and the confusion matrix [[TN, FP], [FN, TP]]."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = (probabilities >= threshold).astype(np.int64)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    clipped = np.clip(probabilities, _EPSILON, 1 - _EPSILON)
    loss = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    return {
        "examples": len(labels),
        "accuracy": (tp + tn) / len(labels),
        "auc": roc_auc(labels, probabilities),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "loss": float(loss),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def error_metrics(actual: np.ndarray, forecast: np.ndarray) -> dict:
    """RMSE, MAE and MAPE (in %) of a forecast, in the units of `actual`.

    MAPE is None unless every actual value is of one sign and non-zero: around zero, as for a
    sine, a percentage error is unbounded and says nothing.
    """
    actual, forecast = np.asarray(actual, np.float64), np.asarray(forecast, np.float64)
    errors = forecast - actual
    one_sign = bool(np.all(actual > 0) or np.all(actual < 0))
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "mape": float(100 * np.mean(np.abs(errors / actual))) if one_sign else None,
    }

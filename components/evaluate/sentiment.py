"""Evaluate for sentiment: the serving model on the raw test reviews, and the blessing.

The serving model is fed the raw test reviews, so the reported accuracy is the served accuracy.

Output under `output_dir`: evaluation.json with the test metrics, the slices, the ROC curve, the
most confident mistakes, the threshold and the blessing decision with its reasons.
"""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.common.config import EvaluateConfig
from components.common.examples import REVIEW_FEATURES, raw_example_batches
from components.common.metrics import classification_metrics, roc_auc, roc_curve
from components.common.serving import DECISION_THRESHOLD, newest_version
from components.common.tasks import SENTIMENT
from components.common.transformed import sequence_length
from components.evaluate.candidate import (
    candidate_signature,
    predict,
    served_signature,
    write_evaluation,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 256
MISTAKES_SHOWN = 10


def length_slices(max_seq_len: int) -> tuple[tuple[str, int, float], ...]:
    """Review length buckets in tokens before truncation, (name, lowest, highest): what fits
    the sequence, up to 10/3 of it (400 tokens for 120 ids), and longer."""
    long = max_seq_len * 10 // 3
    return (
        (f"<={max_seq_len}", 0, max_seq_len),
        (f"{max_seq_len + 1}-{long}", max_seq_len + 1, long),
        (f">{long}", long + 1, np.inf),
    )


def read_test_split(examples_dir: str) -> dict[str, np.ndarray]:
    """Texts, labels and star ratings (0: none) of every raw test review, in file order."""
    columns = {F.TEXT_KEY: [], F.LABEL_KEY: [], F.RATING_KEY: []}
    for batch in raw_example_batches(examples_dir, "test", BATCH_SIZE, REVIEW_FEATURES):
        for key, values in columns.items():
            values.append(batch[key].numpy())
    return {key: np.concatenate(values) for key, values in columns.items()}


def predict_texts(serving_fn, texts: np.ndarray) -> np.ndarray:
    """Served probabilities of raw texts, in batches."""
    return predict(serving_fn, texts, F.SERVING_INPUT_KEY, F.SERVING_PROBABILITY_KEY, BATCH_SIZE)


def token_counts(transform_graph_dir: str, texts: np.ndarray) -> np.ndarray:
    """Tokens per text before truncation, as the transform graph counts them."""
    transform_layer = tft.TFTransformOutput(transform_graph_dir).transform_features_layer()
    counts = [np.zeros(0, np.int64)]
    for start in range(0, len(texts), BATCH_SIZE):
        batch = {F.TEXT_KEY: tf.constant(texts[start : start + BATCH_SIZE])}
        counts.append(transform_layer(batch)[F.NUM_TOKENS_KEY].numpy())
    return np.concatenate(counts)


def confident_mistakes(
    texts: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, count: int = MISTAKES_SHOWN
) -> list[dict]:
    """The wrong predictions made with the most confidence, most confident first."""
    predicted = (probabilities >= DECISION_THRESHOLD).astype(labels.dtype)
    wrong = np.flatnonzero(predicted != labels)
    confidence = np.abs(probabilities[wrong] - 0.5)
    most_confident = wrong[np.argsort(-confidence, kind="stable")[:count]]
    return [
        {
            "text": texts[i].decode("utf-8", errors="replace"),
            "label": F.LABEL_NAMES[int(labels[i])],
            "probability_positive": float(probabilities[i]),
        }
        for i in most_confident
    ]


def _slice_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    both_classes = 0 < labels.sum() < len(labels)
    return {
        "examples": int(len(labels)),
        "accuracy": float(np.mean((probabilities >= DECISION_THRESHOLD) == labels)),
        "auc": roc_auc(labels, probabilities) if both_classes else None,
        "mean_probability": float(np.mean(probabilities)),
    }


def sliced_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    lengths: np.ndarray,
    ratings: np.ndarray,
    max_seq_len: int,
) -> dict[str, dict]:
    """Metrics per review-length bucket (length_slices) and, where the source has ratings, per
    star rating."""
    slices = {}
    for name, low, high in length_slices(max_seq_len):
        mask = (lengths >= low) & (lengths <= high)
        if mask.any():
            slices[f"tokens {name}"] = _slice_metrics(labels[mask], probabilities[mask])
    for rating in sorted(set(ratings.tolist()) - {0}):
        mask = ratings == rating
        slices[f"rating {rating}"] = _slice_metrics(labels[mask], probabilities[mask])
    return slices


def blessing(
    metrics: dict, config: EvaluateConfig, served_accuracy: float | None = None
) -> tuple[bool, list[str]]:
    """Whether to export, and a reason for each condition checked."""
    accuracy = metrics["accuracy"]
    threshold_met = accuracy >= config.accuracy_threshold
    sign = ">=" if threshold_met else "<"
    reasons = [f"test accuracy {accuracy:.4f} {sign} threshold {config.accuracy_threshold}"]
    if served_accuracy is None:
        return threshold_met, reasons
    no_regression = accuracy >= served_accuracy - config.max_regression
    if accuracy >= served_accuracy:
        reasons.append(f"test accuracy {accuracy:.4f} >= the served model's {served_accuracy:.4f}")
    else:
        relation = "within" if no_regression else "more than"
        reasons.append(
            f"test accuracy {accuracy:.4f} is {relation} {config.max_regression} below "
            f"the served model's {served_accuracy:.4f}"
        )
    return threshold_met and no_regression, reasons


def run_sentiment_evaluate(
    config: EvaluateConfig,
    examples_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    output_dir: str,
) -> dict:
    """Evaluates the serving classifier on the raw test reviews; returns the result."""
    test = read_test_split(examples_dir)
    texts, labels = test[F.TEXT_KEY], test[F.LABEL_KEY]
    with candidate_signature(SENTIMENT, transform_graph_dir, model_dir) as serve:
        probabilities = predict_texts(serve, texts)
    metrics = classification_metrics(labels, probabilities)
    lengths = token_counts(transform_graph_dir, texts)
    previous = newest_version(config.export_dir)
    served = None
    if previous:
        # The model already serving, on the very same raw test reviews.
        serve = served_signature(previous)
        served = {
            "path": previous,
            "accuracy": classification_metrics(labels, predict_texts(serve, texts))["accuracy"],
        }
    blessed, reasons = blessing(metrics, config, served and served["accuracy"])
    result = {
        "metrics": metrics,
        "slices": sliced_metrics(
            labels,
            probabilities,
            lengths,
            test[F.RATING_KEY],
            sequence_length(transform_graph_dir),
        ),
        "confident_mistakes": confident_mistakes(texts, labels, probabilities),
        "roc_curve": roc_curve(labels, probabilities),
        "accuracy_threshold": config.accuracy_threshold,
        "served_model": served,
        "blessed": blessed,
        "blessing_reason": "; ".join(reasons),
    }
    write_evaluation(output_dir, result, {})
    logger.info(
        "evaluate: %d test reviews, accuracy %.4f, AUC %.4f; %s: %s",
        metrics["examples"],
        metrics["accuracy"],
        metrics["auc"],
        "blessed" if blessed else "not blessed",
        result["blessing_reason"],
    )
    return result

"""Evaluate for sentiment: the serving model on the raw test reviews, and the blessing.

The serving model is fed the raw test reviews, so the reported accuracy is the served accuracy.

Output under `output_dir`: evaluation.json with the test metrics, the slices, the ROC curve, the
most confident mistakes, the threshold and the blessing decision with its reasons.
"""

from __future__ import annotations

import dataclasses
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


def raw_test_batches(examples_dir: str) -> tf.data.Dataset:
    """The raw test reviews written by ingest, BATCH_SIZE at a time, in file order."""
    return raw_example_batches(examples_dir, "test", BATCH_SIZE, REVIEW_FEATURES)


def served_probabilities(serving_fn, texts: np.ndarray) -> np.ndarray:
    return predict(serving_fn, texts, F.SERVING_INPUT_KEY, F.SERVING_PROBABILITY_KEY, BATCH_SIZE)


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


def most_confident(mistakes: list[dict], count: int = MISTAKES_SHOWN) -> list[dict]:
    """The `count` most confident of `mistakes` (confident_mistakes' dicts); of equally
    confident ones, the earlier in the list, so merging batch by batch in file order gives
    confident_mistakes of the whole split."""
    return sorted(mistakes, key=lambda m: -abs(m["probability_positive"] - 0.5))[:count]


@dataclasses.dataclass
class ScoredTestSplit:
    """Per raw test review, in file order: label, star rating (0: none), served probability
    and token count before truncation; and the most confident mistakes, with their texts."""

    labels: np.ndarray
    ratings: np.ndarray
    probabilities: np.ndarray
    token_counts: np.ndarray
    confident_mistakes: list[dict]


def score_test_split(examples_dir: str, transform_graph_dir: str, serving_fn) -> ScoredTestSplit:
    """Scores the raw test reviews in one pass. Texts are held a batch at a time, so the step's
    memory grows by 28 bytes a test review (the four numbers), not by the reviews."""
    count_tokens = tft.TFTransformOutput(transform_graph_dir).transform_features_layer()
    labels, ratings, probabilities, token_counts, mistakes = [], [], [], [], []
    for batch in raw_test_batches(examples_dir):
        texts = batch[F.TEXT_KEY].numpy()
        labels.append(batch[F.LABEL_KEY].numpy())
        ratings.append(batch[F.RATING_KEY].numpy())
        probabilities.append(served_probabilities(serving_fn, texts))
        token_counts.append(count_tokens({F.TEXT_KEY: batch[F.TEXT_KEY]})[F.NUM_TOKENS_KEY].numpy())
        mistakes = most_confident(
            mistakes + confident_mistakes(texts, labels[-1], probabilities[-1])
        )
    return ScoredTestSplit(
        np.concatenate(labels),
        np.concatenate(ratings),
        np.concatenate(probabilities),
        np.concatenate(token_counts),
        mistakes,
    )


def split_probabilities(examples_dir: str, serving_fn) -> np.ndarray:
    """The served probability of every raw test review, in file order."""
    batches = raw_test_batches(examples_dir)
    return np.concatenate(
        [served_probabilities(serving_fn, b[F.TEXT_KEY].numpy()) for b in batches]
    )


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
    with candidate_signature(SENTIMENT, transform_graph_dir, model_dir) as serve:
        test = score_test_split(examples_dir, transform_graph_dir, serve)
    labels, probabilities = test.labels, test.probabilities
    metrics = classification_metrics(labels, probabilities)
    previous = newest_version(config.export_dir)
    served = None
    if previous:
        # The model already serving, on the very same raw test reviews.
        with served_signature(previous) as serve:
            served_accuracy = classification_metrics(
                labels, split_probabilities(examples_dir, serve)
            )["accuracy"]
        served = {"path": previous, "accuracy": served_accuracy}
    blessed, reasons = blessing(metrics, config, served and served["accuracy"])
    result = {
        "metrics": metrics,
        "slices": sliced_metrics(
            labels,
            probabilities,
            test.token_counts,
            test.ratings,
            sequence_length(transform_graph_dir),
        ),
        "confident_mistakes": test.confident_mistakes,
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

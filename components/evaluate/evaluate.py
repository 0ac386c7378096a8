"""Evaluate: the serving model on the raw test text, and whether it is good enough to export.

The metrics come from the very SavedModel that export writes (built by the same function and
loaded back), fed the raw test reviews, so the reported accuracy is the served accuracy.

Output under `output_dir`: evaluation.json with the test metrics, the slices, the ROC curve, the
most confident mistakes, the threshold and the blessing decision with its reasons. The forecast
task is evaluated in forecast.py.
"""

from __future__ import annotations

import logging
import tempfile

import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.config import FORECAST, SENTIMENT, EvaluateConfig
from components.common.io import atomic_directory, raw_example_batches, write_json
from components.evaluate.metrics import classification_metrics, roc_auc, roc_curve
from components.export.export import (
    DECISION_THRESHOLD,
    load_trained_model,
    newest_version,
    write_serving_model,
)
from components.train.train import read_transform_config
from components.transform.preprocessing import tokenize

logger = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
BATCH_SIZE = 256
MISTAKES_SHOWN = 10


# Review length in tokens before truncation: what fits the sequence, up to about 3x, longer.
LENGTH_SLICES = (("<=120", 0, 120), ("121-400", 121, 400), (">400", 401, np.inf))


def read_test_split(examples_dir: str) -> dict[str, np.ndarray]:
    """Texts, labels and star ratings (0: none) of every raw test review, in file order."""
    columns = {F.TEXT_KEY: [], F.LABEL_KEY: [], F.RATING_KEY: []}
    for batch in raw_example_batches(examples_dir, "test", BATCH_SIZE):
        for key, values in columns.items():
            values.append(batch[key].numpy())
    return {key: np.concatenate(values) for key, values in columns.items()}


def predict_texts(serving_fn, texts: np.ndarray) -> np.ndarray:
    """Served probabilities of raw texts, in batches."""
    probabilities = [
        serving_fn(**{F.SERVING_INPUT_KEY: tf.constant(texts[start : start + BATCH_SIZE])})[
            F.SERVING_PROBABILITY_KEY
        ].numpy()
        for start in range(0, len(texts), BATCH_SIZE)
    ]
    return np.concatenate(probabilities)


def token_counts(texts: np.ndarray, punctuation: str) -> np.ndarray:
    """Tokens per text before truncation, as the transform counts them."""
    return np.concatenate(
        [
            tokenize(tf.constant(texts[start : start + BATCH_SIZE]), punctuation)
            .row_lengths()
            .numpy()
            for start in range(0, len(texts), BATCH_SIZE)
        ]
    )


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
    labels: np.ndarray, probabilities: np.ndarray, lengths: np.ndarray, ratings: np.ndarray
) -> dict[str, dict]:
    """Metrics per review-length bucket and, where the source has ratings, per star rating."""
    slices = {}
    for name, low, high in LENGTH_SLICES:
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


def run_evaluate(
    config: EvaluateConfig,
    examples_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    output_dir: str,
    task: str = SENTIMENT,
) -> dict:
    """Evaluates the serving model built from the model and transform graph; returns the result."""
    if task == FORECAST:
        from components.evaluate.forecast import run_forecast_evaluate

        return run_forecast_evaluate(
            config, examples_dir, transform_graph_dir, model_dir, output_dir
        )
    model = load_trained_model(model_dir)
    test = read_test_split(examples_dir)
    texts, labels = test[F.TEXT_KEY], test[F.LABEL_KEY]
    with tempfile.TemporaryDirectory() as scratch:
        serving_model = tf.saved_model.load(
            write_serving_model(transform_graph_dir, model, f"{scratch}/candidate")
        )
        probabilities = predict_texts(serving_model.signatures[F.SERVING_SIGNATURE], texts)
    metrics = classification_metrics(labels, probabilities)
    lengths = token_counts(texts, read_transform_config(transform_graph_dir).punctuation)
    previous = newest_version(config.export_dir)
    served = None
    if previous:
        # The model already serving, on the very same raw test reviews.
        serve = tf.saved_model.load(previous).signatures[F.SERVING_SIGNATURE]
        served = {
            "path": previous,
            "accuracy": classification_metrics(labels, predict_texts(serve, texts))["accuracy"],
        }
    blessed, reasons = blessing(metrics, config, served and served["accuracy"])
    result = {
        "metrics": metrics,
        "slices": sliced_metrics(labels, probabilities, lengths, test[F.RATING_KEY]),
        "confident_mistakes": confident_mistakes(texts, labels, probabilities),
        "roc_curve": roc_curve(labels, probabilities),
        "accuracy_threshold": config.accuracy_threshold,
        "served_model": served,
        "blessed": blessed,
        "blessing_reason": "; ".join(reasons),
    }
    with atomic_directory(output_dir) as staging:
        write_json(f"{staging}/{EVALUATION_FILE}", result)
    logger.info(
        "evaluate: %d test reviews, accuracy %.4f, AUC %.4f; %s: %s",
        metrics["examples"],
        metrics["accuracy"],
        metrics["auc"],
        "blessed" if blessed else "not blessed",
        result["blessing_reason"],
    )
    return result

"""Evaluate: the serving model on the raw test text, and whether it is good enough to export.

The metrics come from the very SavedModel that export writes (built by the same function and
loaded back), fed the raw test reviews, so the reported accuracy is the served accuracy.

Output under `output_dir`: evaluation.json with the test metrics, the ROC curve, the threshold and
the blessing decision with its reason.
"""

from __future__ import annotations

import logging
import tempfile

import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.config import EvaluateConfig
from components.common.io import tfrecord_files, write_json
from components.evaluate.metrics import classification_metrics, roc_curve
from components.export.export import load_trained_model, write_serving_model

logger = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
BATCH_SIZE = 256


def raw_test_dataset(examples_dir: str) -> tf.data.Dataset:
    """(text, label) batches of the raw test split written by ingest."""
    feature_spec = {
        F.TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
        F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    files = tfrecord_files(examples_dir, "test")
    return (
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(BATCH_SIZE)
        .map(lambda records: tf.io.parse_example(records, feature_spec))
    )


def predict_dataset(serving_fn, examples_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and served probabilities for every raw test review."""
    labels, probabilities = [], []
    for batch in raw_test_dataset(examples_dir):
        outputs = serving_fn(**{F.SERVING_INPUT_KEY: batch[F.TEXT_KEY]})
        probabilities.append(outputs[F.SERVING_PROBABILITY_KEY].numpy())
        labels.append(batch[F.LABEL_KEY].numpy())
    return np.concatenate(labels), np.concatenate(probabilities)


def blessing(metrics: dict, config: EvaluateConfig) -> tuple[bool, str]:
    accuracy = metrics["accuracy"]
    if accuracy >= config.accuracy_threshold:
        return True, f"test accuracy {accuracy:.4f} >= threshold {config.accuracy_threshold}"
    return False, f"test accuracy {accuracy:.4f} < threshold {config.accuracy_threshold}"


def run_evaluate(
    config: EvaluateConfig,
    examples_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    output_dir: str,
) -> dict:
    """Evaluates the serving model built from the model and transform graph; returns the result."""
    model = load_trained_model(model_dir)
    with tempfile.TemporaryDirectory() as scratch:
        serving_model = tf.saved_model.load(
            write_serving_model(transform_graph_dir, model, f"{scratch}/candidate")
        )
        labels, probabilities = predict_dataset(
            serving_model.signatures[F.SERVING_SIGNATURE], examples_dir
        )
    metrics = classification_metrics(labels, probabilities)
    blessed, reason = blessing(metrics, config)
    result = {
        "metrics": metrics,
        "roc_curve": roc_curve(labels, probabilities),
        "accuracy_threshold": config.accuracy_threshold,
        "blessed": blessed,
        "blessing_reason": reason,
    }
    tf.io.gfile.makedirs(output_dir)
    write_json(f"{output_dir}/{EVALUATION_FILE}", result)
    logger.info(
        "evaluate: %d test reviews, accuracy %.4f, AUC %.4f; %s: %s",
        metrics["examples"],
        metrics["accuracy"],
        metrics["auc"],
        "blessed" if blessed else "not blessed",
        reason,
    )
    return result

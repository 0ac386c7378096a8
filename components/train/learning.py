"""What a task gives the shared training loop: its model, loss, metrics and data.

Each task's module (sentiment.py, forecast.py) makes a Learning from the transform output;
train.py trains it the same way for every task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from components.common.io import tfrecord_files

IN_MEMORY_READ_BATCH = 4096


@dataclass(frozen=True)
class Learning:
    """What a task trains: its model, loss and metrics, and its data."""

    build_model: Callable[[tf.Tensor], keras.Model]  # Given the train split's features.
    loss: str
    metrics: list
    train: tf.data.Dataset  # (features, target) pairs, unbatched.
    evaluation: tf.data.Dataset
    settings: dict  # Which transform output the model was fitted to, for model_info.json.


def feature_target_pairs(
    transformed_dir: str, split: str, feature_spec: dict, features: str, target: str
) -> tf.data.Dataset:
    """(features, target) pairs of one split of a transform's tf.Examples, parsed with
    `feature_spec`."""
    feature_spec = {key: feature_spec[key] for key in (features, target)}

    def parse(record):
        example = tf.io.parse_single_example(record, feature_spec)
        return example[features], example[target]

    files = tfrecord_files(transformed_dir, split)
    return tf.data.TFRecordDataset(files, compression_type="GZIP").map(
        parse, num_parallel_calls=tf.data.AUTOTUNE
    )


def in_memory(pairs: tf.data.Dataset, split: str) -> tuple[tf.Tensor, tf.Tensor]:
    """All (features, target) pairs of a split as two tensors, read in one pass.

    Splits here fit in memory easily (IMDB's train split is 22 MB of ids), and holding them as
    tensors leaves each epoch only shuffling and batching: no record parsing, and no
    first-epoch cache fill slowing the first epoch.
    """
    features, targets = [], []
    for feature_batch, target_batch in pairs.batch(IN_MEMORY_READ_BATCH):
        features.append(feature_batch)
        targets.append(target_batch)
    if not targets:
        raise ValueError(f"train: the {split} split has no examples to learn from")
    return tf.concat(features, axis=0), tf.concat(targets, axis=0)

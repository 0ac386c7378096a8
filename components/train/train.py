"""Train: fit a recurrent classifier on the transformed train split, early-stopped on eval.

Outputs under `model_dir`:
    model.keras         the trained Keras model with the best eval-accuracy weights
    history.json        per-epoch loss and accuracy on train and eval, and the best epoch
    model_info.json     model type, parameter count, train and transform configuration
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import tensorflow as tf

from components.common import features as F
from components.common.config import TrainConfig, TransformConfig
from components.common.io import read_json, tfrecord_files, write_json
from components.train.models import build_model
from components.transform.transform import TRANSFORM_CONFIG_FILE

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
MODEL_INFO_FILE = "model_info.json"
MONITOR = "val_accuracy"


def read_transform_config(transform_graph_dir: str) -> TransformConfig:
    return TransformConfig(**read_json(f"{transform_graph_dir}/{TRANSFORM_CONFIG_FILE}"))


def transformed_dataset(transformed_dir: str, split: str, max_seq_len: int) -> tf.data.Dataset:
    """(token_ids, label) pairs of one transformed split."""
    feature_spec = {
        F.TOKEN_IDS_KEY: tf.io.FixedLenFeature([max_seq_len], tf.int64),
        F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(record):
        example = tf.io.parse_single_example(record, feature_spec)
        return example[F.TOKEN_IDS_KEY], example[F.LABEL_KEY]

    files = tfrecord_files(transformed_dir, split)
    return tf.data.TFRecordDataset(files, compression_type="GZIP").map(
        parse, num_parallel_calls=tf.data.AUTOTUNE
    )


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch, so a person watching a pipeline sees training progress."""

    def __init__(self, epochs: int):
        super().__init__()
        self._epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        metrics = " ".join(f"{name}={value:.4f}" for name, value in sorted((logs or {}).items()))
        logger.info("train: epoch %d/%d %s", epoch + 1, self._epochs, metrics)


def run_train(
    config: TrainConfig, transformed_dir: str, transform_graph_dir: str, model_dir: str
) -> dict:
    """Trains `config.model_type` and writes the model, its history and its info; returns info."""
    transform_config = read_transform_config(transform_graph_dir)
    keras.utils.set_random_seed(config.seed)
    model = build_model(
        config.model_type,
        transform_config.vocab_size,
        transform_config.max_seq_len,
        config.embedding_dim,
        config.units,
        config.dense_units,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    model.summary(print_fn=logger.info)

    train = transformed_dataset(transformed_dir, "train", transform_config.max_seq_len).cache()
    num_train = int(train.reduce(0, lambda count, _: count + 1))
    train = train.shuffle(num_train, seed=config.seed).batch(config.batch_size)
    evaluation = transformed_dataset(transformed_dir, "eval", transform_config.max_seq_len)
    evaluation = evaluation.batch(config.batch_size).cache()
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=MONITOR, patience=config.patience, restore_best_weights=True
    )
    history = model.fit(
        train.prefetch(tf.data.AUTOTUNE),
        validation_data=evaluation,
        epochs=config.epochs,
        callbacks=[early_stopping, EpochLog(config.epochs)],
        verbose=0,
    )

    per_epoch = {name: [float(v) for v in values] for name, values in history.history.items()}
    best_epoch = max(range(len(per_epoch[MONITOR])), key=per_epoch[MONITOR].__getitem__)
    tf.io.gfile.makedirs(model_dir)
    model.save(f"{model_dir}/{MODEL_FILE}")
    write_json(
        f"{model_dir}/{HISTORY_FILE}",
        {"per_epoch": per_epoch, "best_epoch": best_epoch + 1, "monitor": MONITOR},
    )
    info = {
        "type": config.model_type,
        "total_params": model.count_params(),
        "epochs_trained": len(per_epoch[MONITOR]),
        "best_epoch": best_epoch + 1,
        "train_examples": num_train,
        "train_config": dataclasses.asdict(config),
        "transform_config": dataclasses.asdict(transform_config),
    }
    write_json(f"{model_dir}/{MODEL_INFO_FILE}", info)
    logger.info(
        "train: %s with %d parameters, best epoch %d of %d (%s %.4f)",
        config.model_type,
        info["total_params"],
        info["best_epoch"],
        info["epochs_trained"],
        MONITOR,
        per_epoch[MONITOR][best_epoch],
    )
    return info

"""Train: fit a recurrent classifier on the transformed train split, early-stopped on eval.

Outputs under `model_dir`:
    model.keras         the trained Keras model with the best eval-accuracy weights
    history.json        per-epoch loss and accuracy on train and eval, and the best epoch
    model_info.json     model type, parameter count, train and transform configuration
    model_summary.txt   Keras' layer-by-layer summary

TensorBoard logs are written from history.json (write_tensorboard_logs), so a resumed or reused
training yields the same logs as an uninterrupted one.

The forecast task fits a regressor on windows of a series with the same loop (forecast.py).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from components.common import features as F
from components.common.config import FORECAST, SENTIMENT, TrainConfig, TransformConfig
from components.common.io import atomic_directory, read_json, tfrecord_files, write_json
from components.train.embeddings import ppmi_svd_vectors
from components.train.models import EMBEDDING_LAYER, build_model
from components.transform.transform import TRANSFORM_CONFIG_FILE

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.json"
MODEL_INFO_FILE = "model_info.json"
MODEL_SUMMARY_FILE = "model_summary.txt"
MONITOR = "val_accuracy"
PROGRESS_FILE = "progress.json"
BEST_WEIGHTS_FILE = "best.weights.h5"
IN_MEMORY_READ_BATCH = 4096


def read_transform_config(transform_graph_dir: str) -> TransformConfig:
    return TransformConfig(**read_json(f"{transform_graph_dir}/{TRANSFORM_CONFIG_FILE}"))


def feature_target_pairs(
    transformed_dir: str,
    split: str,
    features: tuple[str, tf.io.FixedLenFeature],
    target: tuple[str, tf.io.FixedLenFeature],
) -> tf.data.Dataset:
    """(features, target) pairs of one split of a transform's tf.Examples."""
    feature_spec = dict([features, target])

    def parse(record):
        example = tf.io.parse_single_example(record, feature_spec)
        return example[features[0]], example[target[0]]

    files = tfrecord_files(transformed_dir, split)
    return tf.data.TFRecordDataset(files, compression_type="GZIP").map(
        parse, num_parallel_calls=tf.data.AUTOTUNE
    )


def transformed_dataset(transformed_dir: str, split: str, max_seq_len: int) -> tf.data.Dataset:
    """(token_ids, label) pairs of one transformed split."""
    return feature_target_pairs(
        transformed_dir,
        split,
        (F.TOKEN_IDS_KEY, tf.io.FixedLenFeature([max_seq_len], tf.int64)),
        (F.LABEL_KEY, tf.io.FixedLenFeature([], tf.int64)),
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


class EpochLog(keras.callbacks.Callback):
    """One log line per epoch, so a person watching a pipeline sees training progress."""

    def __init__(self, epochs: int):
        super().__init__()
        self._epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        metrics = " ".join(f"{name}={value:.4f}" for name, value in sorted((logs or {}).items()))
        logger.info("train: epoch %d/%d %s", epoch + 1, self._epochs, metrics)


class EarlyStoppingWithCheckpoints(keras.callbacks.Callback):
    """Early stopping on `monitor` that keeps the best weights and can resume after a kill.

    With a checkpoint folder, every finished epoch leaves there the full model (weights and
    optimizer), the best weights so far and progress.json (history, best epoch, patience used),
    written so a kill at any moment leaves the previous epoch's state intact. Keras' own
    EarlyStopping cannot be resumed: its best weights and patience live only in memory.
    """

    def __init__(
        self,
        patience: int,
        checkpoint_dir: str = "",
        monitor: str = MONITOR,
        higher_is_better: bool = True,
    ):
        super().__init__()
        self.patience, self.checkpoint_dir = patience, checkpoint_dir
        self.monitor, self._sign = monitor, 1 if higher_is_better else -1
        self.history: dict[str, list[float]] = {}
        self.best_epoch, self.best_value, self.wait = -1, -self._sign * float("inf"), 0
        self._best_weights = None

    @property
    def epochs_done(self) -> int:
        return len(self.history.get(self.monitor, []))

    def _path(self, name: str) -> str:
        return f"{self.checkpoint_dir}/{name}"

    def resume(self) -> keras.Model | None:
        """The model of the last finished epoch, with the callback's state, if one was saved."""
        if not self.checkpoint_dir or not tf.io.gfile.exists(self._path(PROGRESS_FILE)):
            return None
        progress = read_json(self._path(PROGRESS_FILE))
        self.history, self.wait = progress["history"], progress["wait"]
        self.best_epoch, self.best_value = progress["best_epoch"], progress["best_value"]
        model = keras.saving.load_model(self._path(progress["state_file"]))
        logger.info("train: resuming after epoch %d from %s", self.epochs_done, self.checkpoint_dir)
        return model

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {}, epoch_seconds=time.monotonic() - self._epoch_start)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))
        value = self.history[self.monitor][-1]
        improved = self._sign * value > self._sign * self.best_value
        if improved:
            self.best_epoch, self.best_value, self.wait = epoch, value, 0
            self._best_weights = self.model.get_weights()
        else:
            self.wait += 1
        if self.checkpoint_dir:
            self._save(epoch, improved)
        if self.wait >= self.patience:
            self.model.stop_training = True

    def _save(self, epoch: int, improved: bool) -> None:
        tf.io.gfile.makedirs(self.checkpoint_dir)
        state_file = f"state-{epoch + 1}.keras"
        self.model.save(self._path(state_file))
        if improved:
            # Keras insists on the .weights.h5 ending, so the incomplete file is named before it.
            incomplete = self._path(f"incomplete-{BEST_WEIGHTS_FILE}")
            self.model.save_weights(incomplete)
            tf.io.gfile.rename(incomplete, self._path(BEST_WEIGHTS_FILE), True)
        progress = {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "wait": self.wait,
            "state_file": state_file,
        }
        write_json(self._path(f"{PROGRESS_FILE}.incomplete"), progress)
        tf.io.gfile.rename(
            self._path(f"{PROGRESS_FILE}.incomplete"), self._path(PROGRESS_FILE), True
        )
        if epoch:
            stale = self._path(f"state-{epoch}.keras")
            if tf.io.gfile.exists(stale):
                tf.io.gfile.remove(stale)

    def restore_best(self) -> None:
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
        elif self.checkpoint_dir and tf.io.gfile.exists(self._path(BEST_WEIGHTS_FILE)):
            self.model.load_weights(self._path(BEST_WEIGHTS_FILE))


@dataclass(frozen=True)
class Learning:
    """What a task trains: its model, loss, data and the eval metric early stopping watches."""

    build_model: Callable[[tf.Tensor], keras.Model]  # Given the train split's features.
    loss: str
    metrics: list
    monitor: str
    higher_is_better: bool
    train: tf.data.Dataset  # (features, target) pairs, unbatched.
    evaluation: tf.data.Dataset
    settings: dict  # Which transform output the model was fitted to, for model_info.json.


def sentiment_model(
    config: TrainConfig, transform_config: TransformConfig, train_ids: tf.Tensor
) -> keras.Model:
    """The classifier `config` describes, its embedding started as `config.embedding_init` says."""
    model = build_model(
        config.model_type,
        transform_config.vocab_size,
        transform_config.max_seq_len,
        config.embedding_dim,
        config.units,
        config.dense_units,
        config.pooling,
        config.dropout,
    )
    if config.embedding_init == "ppmi-svd":
        vectors = ppmi_svd_vectors(
            train_ids.numpy(), transform_config.vocab_size, config.embedding_dim, config.seed
        )
        model.get_layer(EMBEDDING_LAYER).set_weights([vectors])
    return model


def sentiment_learning(
    config: TrainConfig, transformed_dir: str, transform_graph_dir: str
) -> Learning:
    transform_config = read_transform_config(transform_graph_dir)
    return Learning(
        build_model=lambda train_ids: sentiment_model(config, transform_config, train_ids),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        monitor=MONITOR,
        higher_is_better=True,
        train=transformed_dataset(transformed_dir, "train", transform_config.max_seq_len),
        evaluation=transformed_dataset(transformed_dir, "eval", transform_config.max_seq_len),
        settings={"transform_config": dataclasses.asdict(transform_config)},
    )


def epoch_batches(
    examples: tf.data.Dataset, seed: int, batch_size: int, first_epoch: int, epochs: int
) -> tf.data.Dataset:
    """The batches of epochs `first_epoch` .. `epochs` - 1, one after another, each epoch's
    examples in an order set by the seed and the epoch's number alone.

    So a training resumed after epoch k sees the same batches in epoch k + 1 as one that was
    never interrupted (a dataset reshuffled each iteration would restart at its first order).
    """
    size = examples.cardinality()

    def one_epoch(epoch):
        return examples.shuffle(size, seed=seed * 1_000_003 + epoch).batch(batch_size)

    return tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)


def run_train(
    config: TrainConfig,
    transformed_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    checkpoint_dir: str = "",
    task: str = SENTIMENT,
) -> dict:
    """Trains `config.model_type` and writes the model, its history and its info; returns info.

    With `checkpoint_dir`, training saves its state there every epoch and, when that folder
    holds the state of an interrupted run, resumes after its last finished epoch.
    """
    if task == FORECAST:
        from components.train.forecast import forecast_learning

        learning = forecast_learning(config, transformed_dir, transform_graph_dir)
    else:
        learning = sentiment_learning(config, transformed_dir, transform_graph_dir)
    keras.utils.set_random_seed(config.seed)
    stopping = EarlyStoppingWithCheckpoints(
        config.patience, checkpoint_dir, learning.monitor, learning.higher_is_better
    )
    train_features, train_targets = in_memory(learning.train, "train")
    model = stopping.resume() or learning.build_model(train_features)
    if not model.compiled:
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss=learning.loss,
            metrics=learning.metrics,
        )
    summary_lines = []
    model.summary(print_fn=lambda line, **_: summary_lines.append(line))
    logger.info("%s", "\n".join(summary_lines))

    num_train = len(train_targets)
    train = epoch_batches(
        tf.data.Dataset.from_tensor_slices((train_features, train_targets)),
        config.seed,
        config.batch_size,
        first_epoch=stopping.epochs_done,
        epochs=config.epochs,
    )
    evaluation = tf.data.Dataset.from_tensor_slices(in_memory(learning.evaluation, "eval"))
    evaluation = evaluation.batch(config.batch_size)
    callbacks = [stopping, EpochLog(config.epochs)]
    if config.learning_rate_decay < 1:
        # Set from the epoch number alone, so a resumed run continues the same schedule.
        schedule = keras.callbacks.LearningRateScheduler(
            lambda epoch: config.learning_rate * config.learning_rate_decay**epoch
        )
        callbacks.insert(0, schedule)  # First, so the history records each epoch's rate.
    if stopping.wait < config.patience:
        model.fit(
            train.prefetch(tf.data.AUTOTUNE),
            validation_data=evaluation,
            epochs=config.epochs,
            initial_epoch=stopping.epochs_done,
            steps_per_epoch=math.ceil(num_train / config.batch_size),
            callbacks=callbacks,
            verbose=0,
        )
    stopping.restore_best()

    per_epoch = stopping.history
    best_epoch = stopping.best_epoch
    with atomic_directory(model_dir) as staging:
        model.save(f"{staging}/{MODEL_FILE}")
        with tf.io.gfile.GFile(f"{staging}/{MODEL_SUMMARY_FILE}", "w") as summary_file:
            summary_file.write("\n".join(summary_lines) + "\n")
        write_json(
            f"{staging}/{HISTORY_FILE}",
            {"per_epoch": per_epoch, "best_epoch": best_epoch + 1, "monitor": learning.monitor},
        )
        info = {
            "type": config.model_type,
            "total_params": model.count_params(),
            "epochs_trained": len(per_epoch[learning.monitor]),
            "best_epoch": best_epoch + 1,
            "train_examples": num_train,
            # The eval metrics of the epoch kept: eval_loss and eval_accuracy (or eval_rmse).
            **{
                f"eval_{name.removeprefix('val_')}": values[best_epoch]
                for name, values in per_epoch.items()
                if name.startswith("val_")
            },
            "train_seconds": sum(per_epoch["epoch_seconds"]),
            "train_config": dataclasses.asdict(config),
            **learning.settings,
        }
        write_json(f"{staging}/{MODEL_INFO_FILE}", info)
    if checkpoint_dir and tf.io.gfile.exists(checkpoint_dir):
        tf.io.gfile.rmtree(checkpoint_dir)  # The finished model supersedes it.
    logger.info(
        "train: %s with %d parameters, best epoch %d of %d (%s %.4f)",
        config.model_type,
        info["total_params"],
        info["best_epoch"],
        info["epochs_trained"],
        learning.monitor,
        per_epoch[learning.monitor][best_epoch],
    )
    return info


def write_tensorboard_logs(model_dir: str, log_dir: str) -> None:
    """Per-epoch scalars of a trained model's history as TensorBoard event files.

    The layout is Keras' TensorBoard callback's (`train/` and `validation/` runs, `epoch_*`
    tags), so `tensorboard --logdir` shows train and eval curves on one chart.
    """
    per_epoch = read_json(f"{model_dir}/{HISTORY_FILE}")["per_epoch"]
    runs = {"train": {}, "validation": {}}
    for name, values in per_epoch.items():
        if name.startswith("val_"):
            runs["validation"][name.removeprefix("val_")] = values
        else:
            runs["train"][name] = values
    for run, scalars in runs.items():
        writer = tf.summary.create_file_writer(f"{log_dir}/{run}")
        with writer.as_default():
            for name, values in scalars.items():
                for epoch, value in enumerate(values):
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch)
        writer.close()

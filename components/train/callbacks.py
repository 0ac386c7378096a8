"""Callbacks of the training loop: progress (a log line and events per epoch), and early
stopping that can resume."""

from __future__ import annotations

import logging
import time

import keras
import tensorflow as tf

from components.common import progress
from components.common.io import read_json, write_json

logger = logging.getLogger(__name__)

PROGRESS_FILE = "progress.json"
BEST_WEIGHTS_FILE = "best.weights.h5"


def _floats(logs: dict | None) -> dict[str, float]:
    return {name: float(value) for name, value in (logs or {}).items()}


class TrainingProgress(keras.callbacks.Callback):
    """Training as a person follows it: a log line per epoch, and progress events (each epoch's
    start and end, and a few times a second the batch reached with the running loss and
    metrics) for the local console's live bar."""

    def __init__(self, epochs: int, batches: int):
        super().__init__()
        self._epochs, self._batches = epochs, batches
        self._throttle = progress.Throttle()
        self._epoch, self._epoch_start = 0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._epoch_start = epoch + 1, time.monotonic()
        progress.emit(
            progress.EPOCH_STARTED, epoch=self._epoch, epochs=self._epochs, batches=self._batches
        )

    def on_train_batch_end(self, batch, logs=None):
        if self._throttle():
            progress.emit(
                progress.BATCH_DONE, epoch=self._epoch, batch=batch + 1, logs=_floats(logs)
            )

    def on_epoch_end(self, epoch, logs=None):
        logs = _floats(logs)
        seconds = time.monotonic() - self._epoch_start
        progress.emit(
            progress.EPOCH_DONE, epoch=epoch + 1, epochs=self._epochs, seconds=seconds, logs=logs
        )
        metrics = " ".join(f"{name}={value:.4f}" for name, value in sorted(logs.items()))
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
        checkpoint_dir: str,
        monitor: str,
        higher_is_better: bool,
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

"""Callbacks of the training loop: progress (a log line and events per epoch), dropout seeded
per epoch, and early stopping that can resume."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np

from components.common import progress
from components.common.io import exists, local_file, makedirs, read_json, remove, rename, write_json

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


class EpochSeededDropout(keras.callbacks.Callback):
    """Seeds every random layer (dropout) at each epoch's start from the run's seed and the
    epoch's number alone, like the order of the batches, so a training resumed after epoch k
    draws the same dropout masks in epoch k + 1 as one that never stopped. Keras keeps a random
    layer's state in a variable that a saved model does not carry."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        for index, state in enumerate(states):
            layer_seed = (self.seed * 1_000_003 + epoch) * 101 + index
            state.assign(np.array([layer_seed, 0], dtype=state.dtype))


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
        if not self.checkpoint_dir or not exists(self._path(PROGRESS_FILE)):
            return None
        progress = read_json(self._path(PROGRESS_FILE))
        self.history, self.wait = progress["history"], progress["wait"]
        self.best_epoch, self.best_value = progress["best_epoch"], progress["best_value"]
        with local_file(self._path(progress["state_file"]), "r") as state:
            model = keras.saving.load_model(state)
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
        makedirs(self.checkpoint_dir)
        state_file = f"state-{epoch + 1}.keras"
        with local_file(self._path(state_file), "w") as state:
            self.model.save(state)
        if improved:
            # Keras insists on the .weights.h5 ending, so the incomplete file is named before it.
            incomplete = self._path(f"incomplete-{BEST_WEIGHTS_FILE}")
            with local_file(incomplete, "w") as weights:
                self.model.save_weights(weights)
            rename(incomplete, self._path(BEST_WEIGHTS_FILE))
        progress = {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "wait": self.wait,
            "state_file": state_file,
        }
        write_json(self._path(f"{PROGRESS_FILE}.incomplete"), progress)
        rename(self._path(f"{PROGRESS_FILE}.incomplete"), self._path(PROGRESS_FILE))
        if epoch:
            stale = self._path(f"state-{epoch}.keras")
            if exists(stale):
                remove(stale)

    def restore_best(self) -> None:
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
        elif self.checkpoint_dir and exists(self._path(BEST_WEIGHTS_FILE)):
            with local_file(self._path(BEST_WEIGHTS_FILE), "r") as weights:
                self.model.load_weights(weights)

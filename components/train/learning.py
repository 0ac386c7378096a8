"""What a task gives the shared training loop: its model, loss, metrics and data.

Each task's module (sentiment.py, forecast.py) makes a Learning from the transform output;
train.py trains it the same way for every task.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from components.common.io import tfrecord_files

IN_MEMORY_READ_BATCH = 4096


@dataclass(frozen=True)
class Learning:
    """What a task trains: its model, loss and metrics, and its data."""

    # Given the train split's feature rows (a tensor, or an array mapped from a file).
    build_model: Callable[[tf.Tensor | np.ndarray], keras.Model]
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


class InMemorySplit:
    """A split's (features, targets) held as two tensors.

    Holding them leaves each epoch only shuffling and batching: no record parsing, and no
    first-epoch cache fill slowing the first epoch.
    """

    def __init__(self, features: tf.Tensor, targets: tf.Tensor):
        self.features, self.targets = features, targets

    def __len__(self) -> int:
        return len(self.targets)

    def feature_rows(self) -> tf.Tensor:
        """The features, one row per example."""
        return self.features

    def batches(self, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
        """(features, targets) batches, in a seeded order that changes each epoch if
        `shuffle_seed` is given, else in the split's order."""
        pairs = tf.data.Dataset.from_tensor_slices((self.features, self.targets))
        if shuffle_seed is not None:
            pairs = pairs.shuffle(len(self), seed=shuffle_seed)
        return pairs.batch(batch_size)


class FileSplit:
    """A split's (features, targets) in two files of fixed-size rows, read a batch at a time.

    Each epoch's order is a seeded shuffle of the row numbers, the very order in which
    InMemorySplit.batches would shuffle the same split (tf.data's shuffle draws positions, not
    values), so training from files gives the model that training from memory gives. Rows are
    read with one pread each: nothing of the files is mapped into memory, only the row numbers
    (8 bytes a row) and the batches in flight.
    """

    def __init__(self, rows: int, columns: dict[str, tuple[str, np.dtype, tuple[int, ...]]]):
        self.rows = rows
        self.columns = columns  # "features"/"targets" -> (path, dtype, shape of one row)

    def __len__(self) -> int:
        return self.rows

    def feature_rows(self) -> np.ndarray:
        """The features, one row per example, mapped from their file."""
        path, dtype, shape = self.columns["features"]
        return np.memmap(path, dtype=dtype, mode="r", shape=(self.rows, *shape))

    def batches(self, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
        """As InMemorySplit.batches, read from the files."""
        positions = tf.data.Dataset.range(self.rows)
        if shuffle_seed is not None:
            positions = positions.shuffle(self.rows, seed=shuffle_seed)
        return positions.batch(batch_size).map(self._read, num_parallel_calls=tf.data.AUTOTUNE)

    def _read(self, positions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        names = ("features", "targets")
        dtypes = [tf.as_dtype(self.columns[name][1]) for name in names]
        features, targets = tf.numpy_function(self._read_rows, [positions], dtypes)
        features.set_shape((None, *self.columns["features"][2]))
        targets.set_shape((None, *self.columns["targets"][2]))
        return features, targets

    def _read_rows(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = []
        for name in ("features", "targets"):
            path, dtype, shape = self.columns[name]
            rows = np.empty((len(positions), *shape), dtype)
            row_bytes = rows[0].nbytes
            with open(path, "rb") as file:
                for index, position in enumerate(positions):
                    data = os.pread(file.fileno(), row_bytes, int(position) * row_bytes)
                    rows[index] = np.frombuffer(data, dtype).reshape(shape)
            batch.append(rows)
        return tuple(batch)


def read_split(
    pairs: tf.data.Dataset, split: str, memory_budget_mb: int, scratch_dir: str
) -> InMemorySplit | FileSplit:
    """All (features, target) pairs of a split, read in one pass: into memory while they take
    at most `memory_budget_mb`, else into files under `scratch_dir`."""
    features, targets, held_bytes = [], [], 0
    files = None  # A _SplitWriter once the split is past the budget.
    for feature_batch, target_batch in pairs.batch(IN_MEMORY_READ_BATCH):
        features.append(feature_batch)
        targets.append(target_batch)
        held_bytes += sum(
            batch.shape.num_elements() * batch.dtype.size for batch in (feature_batch, target_batch)
        )
        if not files and held_bytes > memory_budget_mb * 2**20:
            files = _SplitWriter(scratch_dir, split, feature_batch, target_batch)
        if files:
            files.write(features, targets)
            features, targets = [], []
    if files:
        return files.close()
    if not targets:
        raise ValueError(f"train: the {split} split has no examples to learn from")
    return InMemorySplit(tf.concat(features, axis=0), tf.concat(targets, axis=0))


class _SplitWriter:
    """Appends batches of a split's features and targets to one file each."""

    def __init__(self, scratch_dir: str, split: str, features: tf.Tensor, targets: tf.Tensor):
        self.columns = {
            name: (
                f"{scratch_dir}/{split}.{name}",
                rows.dtype.as_numpy_dtype,
                tuple(rows.shape[1:]),
            )
            for name, rows in (("features", features), ("targets", targets))
        }
        self.files = {name: open(path, "wb") for name, (path, _, _) in self.columns.items()}
        self.rows = 0

    def write(self, features: list[tf.Tensor], targets: list[tf.Tensor]) -> None:
        for name, batches in (("features", features), ("targets", targets)):
            for batch in batches:
                self.files[name].write(batch.numpy().tobytes())
        self.rows += sum(len(batch) for batch in targets)

    def close(self) -> FileSplit:
        for file in self.files.values():
            file.close()
        return FileSplit(self.rows, self.columns)

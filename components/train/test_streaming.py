"""Training from files (a split past --memory-budget-mb) against training from memory."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.common.artifacts import HISTORY_FILE, MODEL_FILE
from components.common.config import ConfigError, TrainConfig
from components.common.io import read_json
from components.common.tasks import SENTIMENT
from components.train.learning import IN_MEMORY_READ_BATCH, FileSplit, InMemorySplit, read_split
from components.train.sentiment import transformed_dataset
from components.train.train import run_train


def epochs_of_batches(split, epochs: int, seed: int | None) -> list[list[np.ndarray]]:
    """Each epoch's batches of `split`, iterated as Keras iterates them (anew per epoch)."""
    batches = split.batches(7, shuffle_seed=seed)
    return [
        [
            np.concatenate([f.numpy().reshape(len(t), -1), t.numpy().reshape(len(t), -1)], axis=1)
            for f, t in batches
        ]
        for _ in range(epochs)
    ]


def test_a_split_past_the_budget_goes_to_files_partway_and_reads_back_in_the_same_order(
    tmp_path,
):
    # Three read batches of 4 MiB of features each: the first is held, the second passes a
    # 5 MiB budget, so both held batches go to the files and the third follows them.
    rows = 3 * IN_MEMORY_READ_BATCH - 5
    features = np.arange(rows * 128, dtype=np.int64).reshape(rows, 128)
    targets = np.arange(rows, dtype=np.float32) / rows
    pairs = tf.data.Dataset.from_tensor_slices((features, targets))

    in_memory = read_split(pairs, "train", 64, str(tmp_path))
    from_files = read_split(pairs, "train", 5, str(tmp_path))
    assert isinstance(in_memory, InMemorySplit) and isinstance(from_files, FileSplit)
    assert len(from_files) == len(in_memory) == rows
    np.testing.assert_array_equal(from_files.feature_rows(), features)

    for seed in (None, 3):
        expected = epochs_of_batches(in_memory, 2, seed)
        got = epochs_of_batches(from_files, 2, seed)
        assert len(got[0]) == len(expected[0]) == -(-rows // 7)
        for expected_epoch, got_epoch in zip(expected, got, strict=True):
            for expected_batch, got_batch in zip(expected_epoch, got_epoch, strict=True):
                np.testing.assert_array_equal(got_batch, expected_batch)
    shuffled = epochs_of_batches(from_files, 2, 3)
    assert not np.array_equal(shuffled[0][0], shuffled[1][0])  # A new order each epoch.


def test_training_from_files_gives_the_model_training_from_memory_gives(tmp_path, transformed):
    config = TrainConfig(
        epochs=2, patience=2, batch_size=16, embedding_dim=4, units=4, dense_units=4
    )
    split = read_split(
        transformed_dataset(transformed["data"], transformed["graph"], "train"),
        "train",
        config.memory_budget_mb,
        str(tmp_path),
    )
    assert isinstance(split, InMemorySplit)  # The default budget holds the small split.
    assert len(split) % config.batch_size  # A short last batch is read too.
    models = {}
    for name, budget in (("memory", config.memory_budget_mb), ("files", 0)):
        model_dir = str(tmp_path / name)
        run_config = TrainConfig(**{**vars(config), "memory_budget_mb": budget})
        run_train(SENTIMENT, run_config, transformed["data"], transformed["graph"], model_dir)
        history = read_json(f"{model_dir}/{HISTORY_FILE}")
        del history["per_epoch"]["epoch_seconds"]
        models[name] = (
            keras.saving.load_model(f"{model_dir}/{MODEL_FILE}").get_weights(),
            history,
        )
    (memory_weights, memory_history), (file_weights, file_history) = models.values()
    assert file_history == memory_history
    for from_memory, from_files in zip(memory_weights, file_weights, strict=True):
        np.testing.assert_array_equal(from_files, from_memory)


def test_a_negative_budget_names_the_option():
    with pytest.raises(ConfigError, match="--memory-budget-mb=-1"):
        TrainConfig(memory_budget_mb=-1)

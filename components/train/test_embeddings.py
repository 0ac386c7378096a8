import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from components.common import features as F
from components.common.config import ConfigError, TrainConfig, TransformConfig
from components.common.tasks import SENTIMENT
from components.train.embeddings import (
    VECTOR_STD,
    cooccurrence_counts,
    ppmi_svd_vectors,
    truncated_svd_vectors,
)
from components.train.learning import read_split
from components.train.models import EMBEDDING_LAYER
from components.train.sentiment import sentiment_model, transformed_dataset
from components.train.train import run_train

PAD, OOV = F.PAD_ID, F.OOV_ID


def test_counts_weigh_pairs_by_distance_and_skip_padding_and_oov():
    counts = cooccurrence_counts(np.array([[PAD, 2, 3, OOV, 4]]), vocab_size=5)
    expected = np.zeros((5, 5), np.float32)
    expected[2, 3] = expected[3, 2] = 1.0  # Adjacent.
    expected[3, 4] = expected[4, 3] = 1 / 2  # The OOV between them still counts as a position.
    expected[2, 4] = expected[4, 2] = 1 / 3
    np.testing.assert_allclose(counts, expected)


def test_words_used_alike_get_similar_vectors():
    # Two topics of four words each; within a topic, two interchangeable words (10 and 11, 12
    # and 13) never appear together but always among the same neighbours.
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(400):
        topic, pair = ([2, 3, 4, 5], [10, 11]) if rng.random() < 0.5 else ([6, 7, 8, 9], [12, 13])
        words = list(rng.choice(topic, size=11))
        words.insert(rng.integers(12), rng.choice(pair))
        rows.append([PAD] * 4 + words)
    vectors = ppmi_svd_vectors(np.array(rows), vocab_size=16, dim=4, seed=0)

    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    assert unit[10] @ unit[11] > 0.9
    assert unit[12] @ unit[13] > 0.9
    assert unit[10] @ unit[12] < 0.5
    assert vectors.shape == (16, 4) and vectors.dtype == np.float32
    # Ids never seen get no direction.
    assert not vectors[[PAD, OOV, 14, 15]].any()
    assert vectors[2:14].std() == pytest.approx(VECTOR_STD, rel=1e-4)


def test_a_small_corpus_in_a_large_vocabulary_gets_vectors_of_the_initializers_size():
    # 20 words seen among 2,000 ids, as a small csv gets with the default --vocab-size.
    rows = np.random.default_rng(0).integers(2, 22, (50, 30))
    vectors = ppmi_svd_vectors(rows, vocab_size=2_000, dim=8, seed=0)
    assert not vectors[22:].any()
    assert vectors[2:22].std() == pytest.approx(VECTOR_STD, rel=1e-4)


def test_more_dimensions_than_the_matrix_has_are_zero():
    vectors = truncated_svd_vectors(np.eye(3, dtype=np.float32), dim=5, seed=0)
    assert vectors.shape == (3, 5)
    assert np.abs(vectors[:, 3:]).max() == 0
    # Rank 3 inside a larger matrix: the directions past it are round-off, and count as absent.
    rng = np.random.default_rng(0)
    matrix = (rng.random((60, 3)) @ rng.random((3, 50))).astype(np.float32)
    vectors = truncated_svd_vectors(matrix, dim=10, seed=0)
    assert vectors[:, :3].any(axis=0).all()
    assert not vectors[:, 3:].any()


# OpenBLAS picks its kernels by CPU unless OPENBLAS_CORETYPE names one (this project's machines
# set Haswell; an image's OpenBLAS detects its own): kernels sum in different orders.
BLAS_KERNELS = ["Haswell", "Prescott"]
SMALL_CORPUS_VECTORS = """
import sys, numpy as np
from components.train.embeddings import ppmi_svd_vectors
rows = np.random.default_rng(0).integers(2, 28, (280, 400))
np.save(sys.argv[1], ppmi_svd_vectors(rows, vocab_size=2_000, dim=128, seed=42))
"""


@pytest.mark.skipif(
    platform.machine() != "x86_64"
    or "openblas" not in np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"],
    reason="the kernels named are OpenBLAS' for x86_64",
)
def test_another_blas_kernel_gives_the_same_vectors_up_to_round_off(tmp_path):
    # A small corpus has fewer words than dimensions, where round-off directions and signs
    # could differ: the vectors that start a container's run and a host's must agree.
    vectors = []
    for kernel in BLAS_KERNELS:
        path = tmp_path / f"{kernel}.npy"
        env = {**os.environ, "OPENBLAS_CORETYPE": kernel}
        subprocess.run([sys.executable, "-c", SMALL_CORPUS_VECTORS, path], env=env, check=True)
        vectors.append(np.load(path))
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)


@pytest.mark.parametrize(
    "rows",
    [[[PAD, PAD, 2], [OOV, 3, OOV]], [[2] * 10] * 5],
    ids=["no two words near each other", "one word beside itself only"],
)
def test_no_words_associated_is_a_clear_error(rows):
    # The second: counts, but each pair as often as chance gives it, so no PPMI at all.
    with pytest.raises(ValueError, match="no in-vocabulary words near each other more often"):
        ppmi_svd_vectors(np.array(rows), vocab_size=4, dim=2, seed=0)


def test_a_sign_tie_is_broken_by_the_first_row_not_by_round_off():
    # Two rows exactly opposite on a direction: round-off alone makes either the larger.
    matrix = np.array([[2, 0], [-2, 0], [0, 1]], np.float32)
    rng = np.random.default_rng(0)
    for _ in range(20):
        rounded = matrix * (1 + rng.uniform(-1, 1, matrix.shape) * np.finfo(np.float32).eps)
        vectors = truncated_svd_vectors(rounded.astype(np.float32), dim=2, seed=0)
        assert vectors[0, 0] > 0 > vectors[1, 0]


def test_ppmi_svd_starts_the_classifier_from_the_train_splits_vectors(tmp_path, transformed):
    transform_config = TransformConfig(vocab_size=24, max_seq_len=40)  # The fixture's.
    train_ids = read_split(
        transformed_dataset(transformed["data"], transformed["graph"], "train"),
        "train",
        TrainConfig().memory_budget_mb,
        str(tmp_path),
    ).feature_rows()
    config = TrainConfig(embedding_dim=4, units=4, dense_units=4, embedding_init="ppmi-svd")

    model = sentiment_model(config, transform_config, train_ids, _unlabeled_not_read)
    expected = ppmi_svd_vectors(np.asarray(train_ids), 24, 4, config.seed)
    np.testing.assert_array_equal(model.get_layer(EMBEDDING_LAYER).get_weights()[0], expected)

    config = TrainConfig(**{**vars(config), "epochs": 2, "batch_size": 16})
    info = run_train(
        SENTIMENT, config, transformed["data"], transformed["graph"], str(tmp_path / "m")
    )
    assert info["train_config"]["embedding_init"] == "ppmi-svd"
    with pytest.raises(ConfigError, match="--embedding-init='glove'"):
        TrainConfig(embedding_init="glove")


def _unlabeled_not_read():
    raise AssertionError("the unlabeled reviews were read though --embedding-text is train")


# A budget of 0 MB gives train's rows from files (FileSplit), the default from memory.
@pytest.mark.parametrize("memory_budget_mb", [TrainConfig().memory_budget_mb, 0])
def test_ppmi_svd_from_train_and_unlabeled_text_counts_both(
    tmp_path, transformed, memory_budget_mb
):
    transform_config = TransformConfig(vocab_size=24, max_seq_len=40)  # The fixture's.
    train_ids = read_split(
        transformed_dataset(transformed["data"], transformed["graph"], "train"),
        "train",
        memory_budget_mb,
        str(tmp_path),
    ).feature_rows()
    unlabeled = np.random.default_rng(0).integers(2, 24, (60, 40))
    config = TrainConfig(
        embedding_dim=4,
        units=4,
        dense_units=4,
        embedding_init="ppmi-svd",
        embedding_text="train+unlabeled",
    )
    model = sentiment_model(config, transform_config, train_ids, lambda: unlabeled)
    both = np.concatenate([np.asarray(train_ids), unlabeled])
    np.testing.assert_array_equal(
        model.get_layer(EMBEDDING_LAYER).get_weights()[0],
        ppmi_svd_vectors(both, 24, 4, config.seed),
    )
    assert not np.allclose(
        model.get_layer(EMBEDDING_LAYER).get_weights()[0],
        ppmi_svd_vectors(np.asarray(train_ids), 24, 4, config.seed),
    )

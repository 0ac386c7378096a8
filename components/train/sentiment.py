"""Training for sentiment: a recurrent classifier over the transformed id sequences.

Binary cross-entropy; early stopping watches eval accuracy (components/common/tasks.py). The
training loop itself is train.py's.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import read_transform_config
from components.common.config import TrainConfig, TransformConfig, text_splits
from components.common.encoder import (
    BACKWARD,
    FORWARD,
    Encoder,
    directions,
    read_encoder,
    read_pretrain_summary,
)
from components.common.transformed import transformed_feature_spec
from components.train.embeddings import ppmi_svd_vectors
from components.train.learning import Learning, feature_target_pairs, read_split
from components.train.models import EMBEDDING_LAYER, build_model


def transformed_dataset(
    transformed_dir: str, transform_graph_dir: str, split: str
) -> tf.data.Dataset:
    """(token_ids, label) pairs of one transformed split."""
    return feature_target_pairs(
        transformed_dir,
        split,
        transformed_feature_spec(transform_graph_dir),
        F.TOKEN_IDS_KEY,
        F.LABEL_KEY,
    )


def sentiment_model(
    config: TrainConfig,
    transform_config: TransformConfig,
    train_ids: tf.Tensor | np.ndarray,
    unlabeled_ids: Callable[[], np.ndarray],
    encoder: Encoder | None = None,
) -> keras.Model:
    """The classifier `config` describes, its embedding started as `config.embedding_init` says
    (word vectors from `train_ids`, and `unlabeled_ids()` where `config.embedding_text` asks),
    or, given a pretrained `encoder`, its embedding and first recurrent layer started from it.

    The model reads sequences as long as `train_ids`' (the transform's --max-seq-len).
    """
    model = build_model(
        config.model_type,
        transform_config.vocab_size,
        train_ids.shape[1],
        config.embedding_dim,
        config.units,
        config.dense_units,
        config.pooling,
        config.dropout,
    )
    if config.embedding_init == "ppmi-svd":
        ids = np.asarray(train_ids)
        if F.UNLABELED_SPLIT in text_splits(config.embedding_text):
            ids = np.concatenate([ids, unlabeled_ids()])
        vectors = ppmi_svd_vectors(
            ids, transform_config.vocab_size, config.embedding_dim, config.seed
        )
        model.get_layer(EMBEDDING_LAYER).set_weights([vectors])
    if encoder is not None:
        start_from_encoder(model, config.model_type, encoder)
    return model


def start_from_encoder(model: keras.Model, model_type: str, encoder: Encoder) -> None:
    """Sets the classifier's embedding and first recurrent layer to the pretrained encoder's."""
    expected = directions(model_type)
    if tuple(encoder.recurrent) != expected:
        raise ValueError(
            f"train: the pretrained encoder has directions {tuple(encoder.recurrent)}, a "
            f"{model_type} needs {expected}: it was pretrained for another model type"
        )
    recurrent = next(
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional)
    )
    layers = (
        {FORWARD: recurrent.forward_layer, BACKWARD: recurrent.backward_layer}
        if isinstance(recurrent, keras.layers.Bidirectional)
        else {FORWARD: recurrent}
    )
    try:
        model.get_layer(EMBEDDING_LAYER).set_weights([encoder.embedding])
        for direction, layer in layers.items():
            layer.set_weights(encoder.recurrent[direction])
    except ValueError as error:
        raise ValueError(
            f"train: the pretrained encoder does not fit {model_type} with these sizes "
            f"(--embedding-dim, --units, --vocab-size must be pretrain's): {error}"
        ) from None


def sentiment_learning(
    config: TrainConfig, transformed_dir: str, transform_graph_dir: str, pretrain_dir: str = ""
) -> Learning:
    """What a sentiment classifier trains on; `pretrain_dir` holds the pretrain step's output,
    whose encoder (where pretraining was on) the classifier starts from."""
    transform_config = read_transform_config(transform_graph_dir)
    encoder = read_encoder(pretrain_dir) if pretrain_dir else None
    pretraining = read_pretrain_summary(pretrain_dir) if pretrain_dir else {"tokens": 0}

    def unlabeled_ids() -> np.ndarray:
        pairs = transformed_dataset(transformed_dir, transform_graph_dir, F.UNLABELED_SPLIT)
        # Read as train is, under --memory-budget-mb; the word vectors count them all at once.
        with tempfile.TemporaryDirectory(prefix="unlabeled-split-") as scratch_dir:
            split = read_split(pairs, F.UNLABELED_SPLIT, config.memory_budget_mb, scratch_dir)
            return np.array(split.feature_rows())

    return Learning(
        build_model=lambda train_ids: sentiment_model(
            config, transform_config, train_ids, unlabeled_ids, encoder
        ),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        train=transformed_dataset(transformed_dir, transform_graph_dir, "train"),
        evaluation=transformed_dataset(transformed_dir, transform_graph_dir, "eval"),
        settings={
            "transform_config": dataclasses.asdict(transform_config),
            # What the encoder it started from learned, for the summary and report.
            "pretraining": {k: v for k, v in pretraining.items() if k != "loss_curve"},
        },
    )

"""Training for sentiment: a recurrent classifier over the transformed id sequences.

Binary cross-entropy; early stopping watches eval accuracy (components/common/tasks.py). The
training loop itself is train.py's.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import read_transform_config
from components.common.config import TrainConfig, TransformConfig
from components.common.transformed import transformed_feature_spec
from components.train.embeddings import ppmi_svd_vectors
from components.train.learning import Learning, feature_target_pairs
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
    config: TrainConfig, transform_config: TransformConfig, train_ids: tf.Tensor | np.ndarray
) -> keras.Model:
    """The classifier `config` describes, its embedding started as `config.embedding_init` says.

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
        vectors = ppmi_svd_vectors(
            np.asarray(train_ids), transform_config.vocab_size, config.embedding_dim, config.seed
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
        train=transformed_dataset(transformed_dir, transform_graph_dir, "train"),
        evaluation=transformed_dataset(transformed_dir, transform_graph_dir, "eval"),
        settings={"transform_config": dataclasses.asdict(transform_config)},
    )

"""The pretrained encoder: what pretrain writes and train starts a classifier from.

The encoder is a classifier's word embedding and its first recurrent layer (one per direction
for the bidirectional models), trained by pretrain as a language model. Both steps build that
layer with `recurrent_layer`, so the weights fit the classifier's layer one for one.

Files under the pretrain artifact:
    encoder.npz     ENCODER_FILE: EMBEDDING_ARRAY (vocab_size x embedding_dim) and, per
                    direction d in `directions(model_type)`, the recurrent layer's weights in
                    Keras' order as arrays `d/0`, `d/1`, ... (recurrent_weights_key)
    pretrain.json   PRETRAIN_FILE: what was trained and how well (tokens, steps, seconds,
                    held-out perplexity per direction, the loss curve); `{"tokens": 0}` when
                    pretraining is off, and then no encoder.npz
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from components.common.io import read_json

ENCODER_FILE = "encoder.npz"
PRETRAIN_FILE = "pretrain.json"
EMBEDDING_ARRAY = "embedding"
FORWARD, BACKWARD = "forward", "backward"

# Model type -> (the first recurrent layer's kind, whether it reads both directions).
_FIRST_RECURRENT = {
    "lstm": ("lstm", False),
    "stacked-lstm": ("lstm", False),
    "bilstm": ("lstm", True),
    "stacked-bilstm": ("lstm", True),
    "gru": ("gru", False),
    "bigru": ("gru", True),
}
_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def directions(model_type: str) -> tuple[str, ...]:
    """The directions of `model_type`'s first recurrent layer: forward, and backward if it is
    bidirectional."""
    return (FORWARD, BACKWARD) if _FIRST_RECURRENT[model_type][1] else (FORWARD,)


def recurrent_layer(model_type: str, units: int, **options) -> keras.layers.Layer:
    """One direction of `model_type`'s first recurrent layer (as the classifier builds it)."""
    return _LAYERS[_FIRST_RECURRENT[model_type][0]](units, **options)


def recurrent_weights_key(direction: str, index: int) -> str:
    return f"{direction}/{index}"


@dataclass(frozen=True)
class Encoder:
    """Pretrained weights: the embedding and, per direction, the recurrent layer's weights."""

    embedding: np.ndarray
    recurrent: dict[str, list[np.ndarray]]


def write_encoder(path: str, encoder: Encoder) -> None:
    arrays = {EMBEDDING_ARRAY: encoder.embedding}
    for direction, weights in encoder.recurrent.items():
        for index, weight in enumerate(weights):
            arrays[recurrent_weights_key(direction, index)] = weight
    # Through memory: numpy's zip writer seeks, which a GFile opened for writing cannot.
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with tf.io.gfile.GFile(os.path.join(path, ENCODER_FILE), "wb") as file:
        file.write(buffer.getvalue())


def read_encoder(pretrain_dir: str) -> Encoder | None:
    """The encoder pretrain wrote in `pretrain_dir`, or None where pretraining was off."""
    path = os.path.join(pretrain_dir, ENCODER_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as file:
        content = file.read()
    with np.load(io.BytesIO(content)) as arrays:
        indexed: dict[str, list[tuple[int, np.ndarray]]] = {}
        for key in arrays.files:
            if key != EMBEDDING_ARRAY:
                direction, index = key.split("/")
                indexed.setdefault(direction, []).append((int(index), arrays[key]))
        recurrent = {
            direction: [weight for _, weight in sorted(pairs, key=lambda pair: pair[0])]
            for direction, pairs in indexed.items()
        }
        return Encoder(arrays[EMBEDDING_ARRAY], recurrent)


def read_pretrain_summary(pretrain_dir: str) -> dict:
    return read_json(os.path.join(pretrain_dir, PRETRAIN_FILE))

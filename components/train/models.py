"""The walkthrough's recurrent classifiers, and a forecaster on the same layers, in Keras 3."""

from __future__ import annotations

import keras

from components.common import features as F


def _recurrent_layers(model_type: str, units: int) -> list[keras.layers.Layer]:
    if model_type == "lstm":
        return [keras.layers.LSTM(units)]
    if model_type == "bilstm":
        return [keras.layers.Bidirectional(keras.layers.LSTM(units))]
    if model_type == "stacked-bilstm":
        return [
            keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True)),
            keras.layers.Bidirectional(keras.layers.LSTM(units)),
        ]
    if model_type == "gru":
        return [keras.layers.GRU(units)]
    if model_type == "stacked-lstm":
        return [keras.layers.LSTM(units, return_sequences=True), keras.layers.LSTM(units)]
    raise ValueError(f"unknown model type {model_type!r}")


def build_model(
    model_type: str,
    vocab_size: int,
    max_seq_len: int,
    embedding_dim: int,
    units: int,
    dense_units: int,
) -> keras.Model:
    """Embedding -> recurrent layer(s) -> Dense(relu) -> Dense(1, sigmoid) over token ids."""
    token_ids = keras.Input(shape=(max_seq_len,), dtype="int64", name=F.TOKEN_IDS_KEY)
    x = keras.layers.Embedding(vocab_size, embedding_dim)(token_ids)
    for layer in _recurrent_layers(model_type, units):
        x = layer(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    probability = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(token_ids, probability, name=model_type.replace("-", "_"))


def build_forecaster(model_type: str, lookback: int, units: int, dense_units: int) -> keras.Model:
    """A window of scaled values -> recurrent layer(s) -> Dense(relu) -> the scaled forecast."""
    history = keras.Input(shape=(lookback,), dtype="float32", name=F.HISTORY_KEY)
    # One feature per time step: the value.
    x = keras.layers.Reshape((lookback, 1))(history)
    for layer in _recurrent_layers(model_type, units):
        x = layer(x)
    x = keras.layers.Dense(dense_units, activation="relu")(x)
    forecast = keras.layers.Dense(1)(x)
    return keras.Model(history, forecast, name=f"{model_type.replace('-', '_')}_forecaster")

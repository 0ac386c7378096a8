"""The walkthrough's four recurrent classifiers (and a BiGRU and a stacked LSTM), in Keras 3,
with optional pooling and regularization, and a forecaster on the same recurrent layers.

With the defaults (pooling "last", dropout 0) these are exactly the walkthrough's models;
pooling over time steps and dropout are knobs of the best configuration in the README.
"""

from __future__ import annotations

import keras

from components.common import features as F

EMBEDDING_LAYER = "embedding"


def _recurrent_layers(model_type: str, units: int, sequences_out: bool) -> list[keras.layers.Layer]:
    """The recurrent stack; with `sequences_out`, its last layer returns every time step."""
    if model_type == "lstm":
        return [keras.layers.LSTM(units, return_sequences=sequences_out)]
    if model_type == "bilstm":
        recurrent = keras.layers.LSTM(units, return_sequences=sequences_out)
        return [keras.layers.Bidirectional(recurrent)]
    if model_type == "stacked-bilstm":
        return [
            keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True)),
            keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=sequences_out)),
        ]
    if model_type == "gru":
        return [keras.layers.GRU(units, return_sequences=sequences_out)]
    if model_type == "bigru":
        return [keras.layers.Bidirectional(keras.layers.GRU(units, return_sequences=sequences_out))]
    if model_type == "stacked-lstm":
        return [
            keras.layers.LSTM(units, return_sequences=True),
            keras.layers.LSTM(units, return_sequences=sequences_out),
        ]
    raise ValueError(f"unknown model type {model_type!r}")


def _pool(sequence_outputs, pooling: str):
    """The features the classifier reads from the recurrent outputs (see TrainConfig.pooling)."""
    if pooling == "last":
        return sequence_outputs
    maximum = keras.layers.GlobalMaxPooling1D()(sequence_outputs)
    if pooling == "max":
        return maximum
    mean = keras.layers.GlobalAveragePooling1D()(sequence_outputs)
    return keras.layers.Concatenate()([maximum, mean])


def _recurrent_features(
    sequence, model_type: str, units: int, dense_units: int, pooling: str, dropout: float
):
    """Recurrent layer(s), pooling, dropout and the ReLU layer: every model's shared middle."""
    x = sequence
    for layer in _recurrent_layers(model_type, units, sequences_out=pooling != "last"):
        x = layer(x)
    x = _pool(x, pooling)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(dense_units, activation="relu")(x)


def build_model(
    model_type: str,
    vocab_size: int,
    max_seq_len: int,
    embedding_dim: int,
    units: int,
    dense_units: int,
    pooling: str = "last",
    dropout: float = 0.0,
) -> keras.Model:
    """Embedding -> recurrent layer(s) -> Dense(relu) -> Dense(1, sigmoid) over token ids.

    `pooling` "max" (or "max-mean") reads the recurrent outputs of every time step (their
    maximum, and mean) instead of the final state; `dropout` drops whole embedding channels and
    recurrent features in training.
    """
    token_ids = keras.Input(shape=(max_seq_len,), dtype="int64", name=F.TOKEN_IDS_KEY)
    x = keras.layers.Embedding(vocab_size, embedding_dim, name=EMBEDDING_LAYER)(token_ids)
    if dropout:
        x = keras.layers.SpatialDropout1D(dropout)(x)
    x = _recurrent_features(x, model_type, units, dense_units, pooling, dropout)
    probability = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(token_ids, probability, name=model_type.replace("-", "_"))


def build_forecaster(
    model_type: str,
    lookback: int,
    units: int,
    dense_units: int,
    pooling: str = "last",
    dropout: float = 0.0,
) -> keras.Model:
    """A window of scaled values -> recurrent layer(s) -> Dense(relu) -> the scaled forecast.

    `pooling` and `dropout` work as in build_model, except that dropout never touches the
    input: with one value per step, dropping an input channel would drop the whole window.
    """
    history = keras.Input(shape=(lookback,), dtype="float32", name=F.HISTORY_KEY)
    # One feature per time step: the value.
    x = keras.layers.Reshape((lookback, 1))(history)
    x = _recurrent_features(x, model_type, units, dense_units, pooling, dropout)
    forecast = keras.layers.Dense(1)(x)
    return keras.Model(history, forecast, name=f"{model_type.replace('-', '_')}_forecaster")

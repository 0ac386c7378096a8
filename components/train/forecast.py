"""Training for forecasting: an LSTM regressor on the windows of the scaled series.

Mean squared error on the scaled target; early stopping watches it on the eval period's
windows (lower is better; components/common/tasks.py). The training loop itself is train.py's.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import read_window_config
from components.common.config import TrainConfig
from components.common.tasks import FORECAST
from components.common.transformed import window_feature_spec
from components.train.learning import Learning, feature_target_pairs
from components.train.models import build_forecaster


def window_dataset(transformed_dir: str, split: str, lookback: int) -> tf.data.Dataset:
    """(history, target) pairs of one period's windows, scaled."""
    return feature_target_pairs(
        transformed_dir, split, window_feature_spec(lookback), F.HISTORY_KEY, F.TARGET_KEY
    )


def forecast_learning(
    config: TrainConfig, transformed_dir: str, transform_graph_dir: str
) -> Learning:
    window = read_window_config(transform_graph_dir)
    return Learning(
        build_model=lambda _train_windows: build_forecaster(
            config.model_type,
            window.lookback,
            config.units,
            config.dense_units,
            config.pooling,
            config.dropout,
        ),
        loss="mse",
        metrics=[keras.metrics.RootMeanSquaredError(name="rmse")],
        train=window_dataset(transformed_dir, "train", window.lookback),
        evaluation=window_dataset(transformed_dir, "eval", window.lookback),
        settings={"task": FORECAST, "window_config": dataclasses.asdict(window)},
    )

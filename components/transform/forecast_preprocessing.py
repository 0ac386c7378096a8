"""The tf.Transform preprocessing for forecasting, and the windows cut from a series.

Scaling is element-wise, so the same graph scales one point at a time in the pipeline and every
value of a window at once inside the exported model. Its statistics come from whatever data the
graph is analyzed on, which transform.py makes the train period alone.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F


def make_forecast_preprocessing_fn(scaling: str):
    """The preprocessing_fn that scales values by "zscore" or "minmax" statistics."""

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        value = inputs[F.VALUE_KEY]
        if scaling == "zscore":
            center = tft.mean(value)
            width = tf.sqrt(tft.var(value))
        else:
            center = tft.min(value)
            width = tft.max(value) - center
        # A constant train period has no spread to divide by; its values are then only shifted.
        width = tf.where(width > 0, width, tf.ones_like(width))
        ones = tf.ones_like(value)
        return {
            F.STEP_KEY: inputs[F.STEP_KEY],
            F.SCALED_VALUE_KEY: (value - center) / width,
            F.SCALE_CENTER_KEY: center * ones,
            F.SCALE_WIDTH_KEY: width * ones,
        }

    return preprocessing_fn


def make_windows(values: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, ...]:
    """Every window of a series in time order: (target positions, histories, targets).

    The window for the point at position t is the `lookback` values ending `horizon` steps
    before it, values[t - horizon - lookback + 1 : t - horizon + 1]; the first
    lookback + horizon - 1 points have none.
    """
    values = np.asarray(values)
    count = max(len(values) - lookback - horizon + 1, 0)
    positions = np.arange(lookback + horizon - 1, lookback + horizon - 1 + count)
    if not count:
        return positions, np.zeros((0, lookback), values.dtype), values[:0]
    histories = np.lib.stride_tricks.sliding_window_view(values, lookback)[:count]
    return positions, histories, values[positions]

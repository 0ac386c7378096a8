"""The tf.Transform preprocessing for forecasting.

Scaling is element-wise, so the same graph scales one point at a time in the pipeline and every
value of a window at once inside the exported model. Its statistics come from whatever data the
graph is analyzed on, which transform.py makes the train period alone.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F


def make_forecast_preprocessing_fn(scaling: str, change_std: float = 1.0):
    """The preprocessing_fn that scales values by "zscore" or "minmax" statistics.

    `change_std`, the standard deviation of the train period's one-step changes in the series'
    units, goes into the graph (in scaled units) so the exported model carries it: one-step
    changes depend on the points' order, which tf.Transform's analyzers do not see, so
    forecast.py computes it.
    """

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
        change_scale = tf.constant(change_std, tf.float32) / width
        ones = tf.ones_like(value)
        return {
            F.STEP_KEY: inputs[F.STEP_KEY],
            F.SCALED_VALUE_KEY: (value - center) / width,
            F.SCALE_CENTER_KEY: center * ones,
            F.SCALE_WIDTH_KEY: width * ones,
            F.CHANGE_SCALE_KEY: change_scale * ones,
        }

    return preprocessing_fn

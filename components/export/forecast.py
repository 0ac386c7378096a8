"""The serving model of a forecaster: raw values in, the forecast in the series' own units out.

Signature `serving_default`: `values` (float32, [None, lookback]), the last `lookback` values of
a series, oldest first; returns `forecast` (float32, [None]), the value `horizon` steps after
the last of them. The tf.Transform graph inside scales the window with the train period's
statistics, and the same statistics, carried by that graph, scale the model's output back.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.transform.forecast import read_window_config


def write_forecast_serving_model(transform_graph_dir: str, model: keras.Model, path: str) -> str:
    """Writes the raw-values SavedModel of `model` to exactly `path` and returns it."""
    transform_layer = tft.TFTransformOutput(transform_graph_dir).transform_features_layer()
    lookback = read_window_config(transform_graph_dir).lookback

    def serve(values: tf.Tensor) -> dict[str, tf.Tensor]:
        # Scaling is element-wise, so every value of every window goes through as one point.
        points = transform_layer({F.VALUE_KEY: tf.reshape(values, [-1])})

        def by_window(key: str) -> tf.Tensor:
            return tf.reshape(points[key], [-1, lookback])

        scaled_forecast = tf.reshape(model(by_window(F.SCALED_VALUE_KEY)), [-1])
        center = by_window(F.SCALE_CENTER_KEY)[:, -1]
        width = by_window(F.SCALE_WIDTH_KEY)[:, -1]
        return {F.SERVING_FORECAST_KEY: scaled_forecast * width + center}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(transform_layer)
    archive.add_endpoint(
        name=F.SERVING_SIGNATURE,
        fn=serve,
        input_signature=[tf.TensorSpec([None, lookback], tf.float32, name=F.SERVING_VALUES_KEY)],
    )
    archive.write_out(path, verbose=False)
    return path

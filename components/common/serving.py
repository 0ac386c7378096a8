"""The serving contract: the SavedModel export writes, evaluate scores and users call.

A serving model is the tf.Transform graph and the trained model as one SavedModel over raw
inputs, in TF Serving's layout (`<dir>/<version>/`; the version is the export's Unix time, so
the newest export is the one TF Serving picks). It carries its own vocabulary or scaling and
needs nothing else from the pipeline's outputs. Its `serving_default` signature, per task:

- sentiment: `text` (tf.string, [None]) -> `probability` (float32, [None]) and `label`
  (tf.string, [None]: negative or positive).
- forecast: `values` (float32, [None, lookback]), the last `lookback` values of a series,
  oldest first -> `forecast` (float32, [None]), the value `horizon` steps after the last of
  them, in the series' units. The graph scales the window with the train period's statistics,
  and the same statistics, carried by the graph, scale the model's output back. A model that
  learned the change (forecast target "change") reads the window relative to its last value
  and its output is added to that last value, in the unit of changes the graph carries.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.common.artifacts import MODEL_FILE, read_window_config
from components.common.tasks import FORECAST, SENTIMENT

DECISION_THRESHOLD = 0.5


def load_trained_model(model_dir: str) -> keras.Model:
    # safe_mode refuses models that would need arbitrary Python (lambdas) to load.
    return keras.saving.load_model(f"{model_dir}/{MODEL_FILE}", safe_mode=True)


def _write_archive(model, transform_layer, serve, input_spec: tf.TensorSpec, path: str) -> str:
    archive = keras.export.ExportArchive()
    # Tracking both puts the model's variables and the transform's assets (the vocabulary)
    # into the SavedModel, which `saved_model_cli run` and TF Serving need.
    archive.track(model)
    archive.track(transform_layer)
    archive.add_endpoint(name=F.SERVING_SIGNATURE, fn=serve, input_signature=[input_spec])
    archive.write_out(path, verbose=False)
    return path


def write_classifier(transform_graph_dir: str, model: keras.Model, path: str) -> str:
    """Writes the raw-text SavedModel of a sentiment classifier to exactly `path`."""
    transform_layer = tft.TFTransformOutput(transform_graph_dir).transform_features_layer()
    label_names = tf.constant(F.LABEL_NAMES)

    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        token_ids = transform_layer({F.TEXT_KEY: text})[F.TOKEN_IDS_KEY]
        probability = tf.reshape(model(token_ids), [-1])
        label = tf.gather(label_names, tf.cast(probability >= DECISION_THRESHOLD, tf.int32))
        return {F.SERVING_PROBABILITY_KEY: probability, F.SERVING_LABEL_KEY: label}

    text_spec = tf.TensorSpec([None], tf.string, name=F.SERVING_INPUT_KEY)
    return _write_archive(model, transform_layer, serve, text_spec, path)


def write_forecaster(transform_graph_dir: str, model: keras.Model, path: str) -> str:
    """Writes the raw-values SavedModel of a forecaster to exactly `path`."""
    transform_layer = tft.TFTransformOutput(transform_graph_dir).transform_features_layer()
    window = read_window_config(transform_graph_dir)
    lookback = window.lookback

    def serve(values: tf.Tensor) -> dict[str, tf.Tensor]:
        # Scaling is element-wise, so every value of every window goes through as one point.
        points = transform_layer({F.VALUE_KEY: tf.reshape(values, [-1])})

        def by_window(key: str) -> tf.Tensor:
            return tf.reshape(points[key], [-1, lookback])

        scaled = by_window(F.SCALED_VALUE_KEY)
        if window.forecast_target == "change":
            last = scaled[:, -1:]
            change_scale = by_window(F.CHANGE_SCALE_KEY)[:, -1:]
            change = model((scaled - last) / change_scale) * change_scale
            scaled_forecast = tf.reshape(last + change, [-1])
        else:
            scaled_forecast = tf.reshape(model(scaled), [-1])
        center = by_window(F.SCALE_CENTER_KEY)[:, -1]
        width = by_window(F.SCALE_WIDTH_KEY)[:, -1]
        return {F.SERVING_FORECAST_KEY: scaled_forecast * width + center}

    values_spec = tf.TensorSpec([None, lookback], tf.float32, name=F.SERVING_VALUES_KEY)
    return _write_archive(model, transform_layer, serve, values_spec, path)


# Task -> write(transform_graph_dir, model, path): the task's serving model.
SERVING_MODEL_WRITERS = {SENTIMENT: write_classifier, FORECAST: write_forecaster}


def write_serving_model(task: str, transform_graph_dir: str, model: keras.Model, path: str) -> str:
    """Writes the task's serving SavedModel of `model` to exactly `path` and returns it."""
    return SERVING_MODEL_WRITERS[task](transform_graph_dir, model, path)


def newest_version(export_dir: str) -> str | None:
    """The newest numbered version folder under a serving destination, or None if none."""
    if not export_dir or not tf.io.gfile.isdir(export_dir):
        return None
    names = [name.rstrip("/") for name in tf.io.gfile.listdir(export_dir)]
    versions = sorted((int(name) for name in names if name.isdigit()), reverse=True)
    return f"{export_dir.rstrip('/')}/{versions[0]}" if versions else None


def resolve_version_dir(model_dir: str) -> str:
    """`model_dir` itself if it is a SavedModel, else its newest numbered version."""
    if tf.saved_model.contains_saved_model(model_dir):
        return model_dir
    version = newest_version(model_dir)
    if version is None:
        raise FileNotFoundError(f"no SavedModel or numbered version folder in {model_dir}")
    return version

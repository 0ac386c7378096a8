"""Export: the tf.Transform graph and the trained model as one SavedModel over raw review text.

The SavedModel goes to `<export_dir>/<version>/` (TF Serving's layout; the version is the
export's Unix time, so the newest export is the one TF Serving picks). Its `serving_default`
signature takes `text` (tf.string, [None]) and returns `probability` (float32, [None]) and
`label` (tf.string, [None]: negative or positive). It carries its own vocabulary and needs
nothing else from the pipeline's outputs. A forecaster's signature is described in forecast.py.
"""

from __future__ import annotations

import logging
import time

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.common.config import FORECAST, SENTIMENT
from components.common.io import atomic_directory, copy_tree
from components.common.step_cache import CANDIDATE_KEY_FILE, candidate_key, read_candidate_key
from components.train.train import MODEL_FILE

logger = logging.getLogger(__name__)

DECISION_THRESHOLD = 0.5


def load_trained_model(model_dir: str) -> keras.Model:
    # safe_mode refuses models that would need arbitrary Python (lambdas) to load.
    return keras.saving.load_model(f"{model_dir}/{MODEL_FILE}", safe_mode=True)


def write_serving_model(
    transform_graph_dir: str, model: keras.Model, path: str, task: str = SENTIMENT
) -> str:
    """Writes the raw-text (or, forecasting, raw-values) SavedModel of `model` to exactly
    `path` and returns it."""
    if task == FORECAST:
        from components.export.forecast import write_forecast_serving_model

        return write_forecast_serving_model(transform_graph_dir, model, path)
    transform_layer = tft.TFTransformOutput(transform_graph_dir).transform_features_layer()
    label_names = tf.constant(F.LABEL_NAMES)

    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        token_ids = transform_layer({F.TEXT_KEY: text})[F.TOKEN_IDS_KEY]
        probability = tf.reshape(model(token_ids), [-1])
        label = tf.gather(label_names, tf.cast(probability >= DECISION_THRESHOLD, tf.int32))
        return {F.SERVING_PROBABILITY_KEY: probability, F.SERVING_LABEL_KEY: label}

    archive = keras.export.ExportArchive()
    # Tracking both puts the model's variables and the vocabulary asset into the SavedModel,
    # which `saved_model_cli run` and TF Serving need.
    archive.track(model)
    archive.track(transform_layer)
    archive.add_endpoint(
        name=F.SERVING_SIGNATURE,
        fn=serve,
        input_signature=[tf.TensorSpec([None], tf.string, name=F.SERVING_INPUT_KEY)],
    )
    archive.write_out(path, verbose=False)
    return path


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


def run_export(
    transform_graph_dir: str,
    model_dir: str,
    export_dir: str,
    push_dir: str = "",
    task: str = SENTIMENT,
) -> str:
    """Writes the serving model under `export_dir/<version>/` and returns that path.

    With `push_dir` (a serving destination), the version is also pushed there (push_version).
    """
    version = str(int(time.time()))
    path = f"{export_dir.rstrip('/')}/{version}"
    with atomic_directory(path) as staging:
        write_serving_model(transform_graph_dir, load_trained_model(model_dir), staging, task)
        with tf.io.gfile.GFile(f"{staging}/{CANDIDATE_KEY_FILE}", "w") as f:
            f.write(candidate_key(transform_graph_dir, model_dir))
    logger.info("export: serving model written to %s", path)
    if push_dir:
        push_version(path, push_dir)
    return path


def push_version(version_dir: str, destination: str) -> str:
    """Makes the SavedModel at `version_dir` the newest version of a serving destination,
    copied complete or not at all, and returns its path there.

    When the newest version there already is this model (the same candidate_key), nothing is
    copied, so an identical rerun pushes no duplicate. The version keeps its number unless the
    destination holds one as new or newer (then it becomes the newest + 1), so TF Serving,
    which serves the highest number, serves it.
    """
    newest = newest_version(destination)
    key = read_candidate_key(version_dir)
    if newest and key and read_candidate_key(newest) == key:
        logger.info("export: %s already serves this model; nothing pushed", newest)
        return newest
    number = int(version_dir.rstrip("/").rsplit("/", 1)[1])
    if newest:
        number = max(number, int(newest.rsplit("/", 1)[1]) + 1)
    target = f"{destination.rstrip('/')}/{number}"
    with atomic_directory(target) as staging:
        copy_tree(version_dir, staging)
    logger.info("export: pushed to %s", target)
    return target

"""Export: the tf.Transform graph and the trained model as one SavedModel over raw review text.

The SavedModel goes to `<export_dir>/<version>/` (TF Serving's layout; the version is the
export's Unix time, so the newest export is the one TF Serving picks). Its `serving_default`
signature takes `text` (tf.string, [None]) and returns `probability` (float32, [None]) and
`label` (tf.string, [None]: negative or positive). It carries its own vocabulary and needs
nothing else from the pipeline's outputs.
"""

from __future__ import annotations

import logging
import time

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F
from components.common.io import atomic_directory
from components.train.train import MODEL_FILE

logger = logging.getLogger(__name__)

DECISION_THRESHOLD = 0.5


def load_trained_model(model_dir: str) -> keras.Model:
    # safe_mode refuses models that would need arbitrary Python (lambdas) to load.
    return keras.saving.load_model(f"{model_dir}/{MODEL_FILE}", safe_mode=True)


def write_serving_model(transform_graph_dir: str, model: keras.Model, path: str) -> str:
    """Writes the raw-text SavedModel of `model` to exactly `path` and returns it."""
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


def resolve_version_dir(model_dir: str) -> str:
    """`model_dir` itself if it is a SavedModel, else its newest numbered version."""
    if tf.saved_model.contains_saved_model(model_dir):
        return model_dir
    versions = [name.rstrip("/") for name in tf.io.gfile.listdir(model_dir)]
    versions = sorted((int(name) for name in versions if name.isdigit()), reverse=True)
    if not versions:
        raise FileNotFoundError(f"no SavedModel or numbered version folder in {model_dir}")
    return f"{model_dir.rstrip('/')}/{versions[0]}"


def run_export(transform_graph_dir: str, model_dir: str, export_dir: str) -> str:
    """Writes the serving model under `export_dir/<version>/` and returns that path."""
    path = f"{export_dir.rstrip('/')}/{int(time.time())}"
    with atomic_directory(path) as staging:
        write_serving_model(transform_graph_dir, load_trained_model(model_dir), staging)
    logger.info("export: serving model written to %s", path)
    return path

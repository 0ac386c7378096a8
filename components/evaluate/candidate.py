"""What evaluate does the same for every task: score the serving model export would write.

The candidate is built by the very function export uses and loaded back, so the metrics are
those of the model that would be served, its tf.Transform graph included.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import EVALUATION_FILE
from components.common.io import atomic_directory, write_json
from components.common.serving import load_trained_model, write_serving_model


@contextlib.contextmanager
def candidate_signature(task: str, transform_graph_dir: str, model_dir: str) -> Iterator:
    """The serving signature of the model in `model_dir`, as export would write it."""
    model = load_trained_model(model_dir)
    with tempfile.TemporaryDirectory() as scratch:
        path = write_serving_model(task, transform_graph_dir, model, f"{scratch}/candidate")
        yield served_signature(path)


def served_signature(saved_model_dir: str):
    return tf.saved_model.load(saved_model_dir).signatures[F.SERVING_SIGNATURE]


def predict(
    serving_fn, inputs: np.ndarray, input_key: str, output_key: str, batch_size: int
) -> np.ndarray:
    """The served `output_key` of every input, fed `input_key` in batches."""
    outputs = [np.zeros(0, np.float32)]
    for start in range(0, len(inputs), batch_size):
        batch = tf.constant(inputs[start : start + batch_size])
        outputs.append(serving_fn(**{input_key: batch})[output_key].numpy())
    return np.concatenate(outputs)


def write_evaluation(output_dir: str, result: dict, files: dict[str, bytes]) -> None:
    """Writes evaluation.json and the named `files` beside it, complete or not at all."""
    with atomic_directory(output_dir) as staging:
        write_json(f"{staging}/{EVALUATION_FILE}", result)
        for name, content in files.items():
            with tf.io.gfile.GFile(f"{staging}/{name}", "wb") as f:
                f.write(content)

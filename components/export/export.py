"""Export: the tf.Transform graph and the trained model as one SavedModel over raw inputs.

The SavedModel goes to `<export_dir>/<version>/` (TF Serving's layout); its signature is the
task's serving contract (components/common/serving.py).
"""

from __future__ import annotations

import logging
import time

import tensorflow as tf

from components.common.io import atomic_directory, copy_tree
from components.common.serving import load_trained_model, newest_version, write_serving_model
from components.common.step_cache import CANDIDATE_KEY_FILE, candidate_key, read_candidate_key

logger = logging.getLogger(__name__)


def run_export(
    task: str,
    transform_graph_dir: str,
    model_dir: str,
    export_dir: str,
    push_dir: str = "",
) -> str:
    """Writes the task's serving model under `export_dir/<version>/` and returns that path.

    With `push_dir` (a serving destination), the version is also pushed there (push_version).
    """
    version = str(int(time.time()))
    path = f"{export_dir.rstrip('/')}/{version}"
    with atomic_directory(path) as staging:
        write_serving_model(task, transform_graph_dir, load_trained_model(model_dir), staging)
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

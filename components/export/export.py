"""Export: the tf.Transform graph and the trained model as one SavedModel over raw inputs.

The SavedModel goes to `<export_dir>/<version>/` (TF Serving's layout); its signature is the
task's serving contract (components/common/serving.py).
"""

from __future__ import annotations

import logging
import time

from components.common.io import atomic_directory, copy_tree
from components.common.serving import load_trained_model, write_serving_model

logger = logging.getLogger(__name__)


def run_export(
    task: str,
    transform_graph_dir: str,
    model_dir: str,
    export_dir: str,
    push_dir: str = "",
) -> str:
    """Writes the task's serving model under `export_dir/<version>/` and returns that path.

    With `push_dir` (a serving destination), the same version is also copied there, complete
    or not at all, beside the versions it already holds.
    """
    version = str(int(time.time()))
    path = f"{export_dir.rstrip('/')}/{version}"
    with atomic_directory(path) as staging:
        write_serving_model(task, transform_graph_dir, load_trained_model(model_dir), staging)
    if push_dir:
        with atomic_directory(f"{push_dir.rstrip('/')}/{version}") as staging:
            copy_tree(path, staging)
        logger.info("export: pushed to %s/%s", push_dir.rstrip("/"), version)
    logger.info("export: serving model written to %s", path)
    return path

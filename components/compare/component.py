"""KFP component: compare. A thin wrapper; the work is in components.compare.compare."""

from typing import List  # noqa: UP035 - KFP's type parser wants typing.List.

from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def compare(
    task: str,
    cache_dir: str,
    models: Input[List[Model]],  # noqa: UP006
    champion: Output[Model],
    leaderboard: Output[Artifact],
    leaderboard_metrics: Output[Metrics],
):
    """Ranks the models trained in parallel by the task's eval metric; outputs the champion."""
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.artifacts import LEADERBOARD_FILE
    from components.common.config import TaskConfig
    from components.common.io import read_json
    from components.common.step_cache import run_cached, step_key
    from components.compare.compare import run_compare

    task = TaskConfig(task).task
    model_dirs = [model.path for model in models]
    reused = run_cached(
        "compare",
        step_key("compare", {"task": task}, model_dirs),
        {"champion": champion.path, "leaderboard": leaderboard.path},
        cache_dir,
        lambda: run_compare(task, model_dirs, champion.path, leaderboard.path),
    )
    result = read_json(f"{leaderboard.path}/{LEADERBOARD_FILE}")
    metric = result["selected_by"]
    for row in result["models"]:
        leaderboard_metrics.log_metric(
            f"{metric.replace('_', ' ')} [{row['model_type']}]", row[metric]
        )
    champion.metadata.update(model_type=result["champion"])
    leaderboard.metadata.update(
        champion=result["champion"], reused=reused, **logs.step_stats(start)
    )

"""KFP component: baseline. A thin wrapper; the work is in components.baseline.baseline."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def baseline(
    seed: int,
    task: str,
    cache_dir: str,
    examples: Input[Dataset],
    baseline_result: Output[Artifact],
    metrics: Output[Metrics],
):
    """Trains and scores the bag-of-n-grams linear baseline on the same splits (text only)."""
    import time

    start = time.monotonic()
    from components.baseline.baseline import BASELINE_FILE, run_baseline
    from components.common import lifetime, logs
    from components.common.config import TaskConfig
    from components.common.io import read_json
    from components.common.step_cache import run_cached, step_key

    logs.configure()
    lifetime.end_with_local_run()
    task = TaskConfig(task).task
    reused = run_cached(
        "baseline",
        step_key("baseline", {"seed": seed, "task": task}, [examples.path]),
        {"baseline_result": baseline_result.path},
        cache_dir,
        lambda: run_baseline(examples.path, baseline_result.path, seed, task),
    )
    result = read_json(f"{baseline_result.path}/{BASELINE_FILE}")
    if result.get("applicable", True):
        for name in ("accuracy", "auc", "precision", "recall", "f1", "loss"):
            metrics.log_metric(name, result["metrics"][name])
    baseline_result.metadata.update(reused=reused, **logs.step_stats(start))

"""KFP component: baseline. A thin wrapper; the work is in components.baseline.baseline."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def baseline(
    seed: int,
    cache_dir: str,
    examples: Input[Dataset],
    baseline_result: Output[Artifact],
    metrics: Output[Metrics],
):
    """Trains and scores the NBSVM baseline (n-grams, linear) on the same review splits."""
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.baseline.baseline import MODEL_NAME, run_baseline
    from components.common.artifacts import BASELINE_FILE
    from components.common.io import read_json
    from components.common.step_cache import run_cached, step_key
    from components.common.tasks import SENTIMENT, TASKS

    reused = run_cached(
        "baseline",
        # The model's name in the key: a cache filled by another baseline model is not reused.
        step_key("baseline", {"seed": seed, "model": MODEL_NAME}, [examples.path]),
        {"baseline_result": baseline_result.path},
        cache_dir,
        lambda: run_baseline(examples.path, baseline_result.path, seed),
    )
    result = read_json(f"{baseline_result.path}/{BASELINE_FILE}")
    for name in TASKS[SENTIMENT].test_metrics:
        metrics.log_metric(name, result["metrics"][name])
    baseline_result.metadata.update(reused=reused, **logs.step_stats(start))

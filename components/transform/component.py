"""KFP component: transform. A thin wrapper; the work is in components.transform.transform."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def transform(
    vocab_size: int,
    max_seq_len: int,
    punctuation: str,
    task: str,
    lookback: int,
    horizon: int,
    scaling: str,
    beam_args: list,
    cache_dir: str,
    examples: Input[Dataset],
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
):
    """Fits the tf.Transform vocabulary (or, forecasting, the scaling) on train and transforms
    every split."""
    import time

    start = time.monotonic()
    from dataclasses import asdict

    from components.common import lifetime, logs
    from components.common.config import TaskConfig, TransformConfig, WindowConfig
    from components.common.step_cache import run_cached, step_key
    from components.transform.transform import run_transform

    logs.configure()
    lifetime.end_with_local_run()
    config = TransformConfig(
        vocab_size=vocab_size, max_seq_len=max_seq_len, punctuation=punctuation
    )
    task = TaskConfig(task).task
    window = WindowConfig(lookback=lookback, horizon=horizon, scaling=scaling)
    outputs = {
        "transform_graph": transform_graph.path,
        "transformed_examples": transformed_examples.path,
    }
    params = {**asdict(config), "task": task, "window": asdict(window)}
    key = step_key("transform", params, [examples.path])
    reused = run_cached(
        "transform",
        key,
        outputs,
        cache_dir,
        lambda: run_transform(config, examples.path, *outputs.values(), beam_args, task, window),
    )
    transform_graph.metadata.update(reused=reused, **logs.step_stats(start))

"""KFP component: ingest. A thin wrapper; the work is in components.ingest.ingest."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def ingest(
    source: str,
    data_dir: str,
    text_field: str,
    label_field: str,
    split_field: str,
    eval_fraction: float,
    max_examples: int,
    max_text_bytes: int,
    max_quarantine_fraction: float,
    task: str,
    date_field: str,
    target: str,
    sine_length: int,
    sine_period: float,
    sine_amplitude: float,
    sine_noise: float,
    sine_seed: int,
    series_train_fraction: float,
    series_eval_fraction: float,
    beam_args: list,
    cache_dir: str,
    examples: Output[Dataset],
):
    """Reads labeled reviews (or, forecasting, a series) and writes train/eval/test tf.Examples."""
    import time

    start = time.monotonic()
    from dataclasses import asdict

    from components.common import lifetime, logs
    from components.common.config import IngestConfig, SeriesConfig, TaskConfig
    from components.common.step_cache import run_cached, step_key
    from components.ingest.ingest import read_counts, run_ingest, source_fingerprint

    logs.configure()
    lifetime.end_with_local_run()
    config = IngestConfig(
        source=source,
        data_dir=data_dir,
        text_field=text_field,
        label_field=label_field,
        split_field=split_field,
        eval_fraction=eval_fraction,
        max_examples=max_examples,
        max_text_bytes=max_text_bytes,
        max_quarantine_fraction=max_quarantine_fraction,
    )
    task = TaskConfig(task).task
    series = SeriesConfig(
        date_field=date_field,
        target=target,
        sine_length=sine_length,
        sine_period=sine_period,
        sine_amplitude=sine_amplitude,
        sine_noise=sine_noise,
        sine_seed=sine_seed,
        series_train_fraction=series_train_fraction,
        series_eval_fraction=series_eval_fraction,
    )
    params = {"config": asdict(config), "task": task, "series": asdict(series)}
    key = step_key("ingest", {**params, "source": source_fingerprint(config)}, [])
    reused = run_cached(
        "ingest",
        key,
        {"examples": examples.path},
        cache_dir,
        lambda: run_ingest(config, examples.path, beam_args, task, series),
    )
    examples.metadata.update(
        counts=read_counts(examples.path), reused=reused, **logs.step_stats(start)
    )

"""KFP components: ingest, one per task. Thin wrappers; the work is in components.ingest.ingest."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def ingest_sentiment(
    code_version: str,
    source: str,
    data_dir: str,
    text_field: str,
    label_field: str,
    split_field: str,
    eval_fraction: float,
    max_examples: int,
    max_text_bytes: int,
    max_quarantine_fraction: float,
    unlabeled: bool,
    beam_args: list,
    cache_dir: str,
    examples: Output[Dataset],
):
    """Reads reviews and writes train/eval/test (and unlabeled) tf.Examples."""
    from components.common.provenance import check_code_version

    check_code_version(code_version)
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import IngestConfig
    from components.common.tasks import SENTIMENT
    from components.ingest.ingest import run_ingest_step

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
        unlabeled=unlabeled,
    )
    run_ingest_step(SENTIMENT, config, examples, beam_args, cache_dir, start)


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def ingest_forecast(
    code_version: str,
    source: str,
    max_quarantine_fraction: float,
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
    """Reads a series (a dated csv or a generated sine) and writes its train/eval/test periods
    as tf.Examples."""
    from components.common.provenance import check_code_version

    check_code_version(code_version)
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import IngestConfig, SeriesConfig
    from components.common.tasks import FORECAST
    from components.ingest.ingest import run_ingest_step

    config = IngestConfig(source=source, max_quarantine_fraction=max_quarantine_fraction)
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
    run_ingest_step(FORECAST, config, examples, beam_args, cache_dir, start, series=series)

"""KFP components: transform, one per task. Thin wrappers; the work is in
components.transform.transform."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def transform_sentiment(
    code_version: str,
    vocab_size: int,
    max_seq_len: int,
    punctuation: str,
    vocabulary_text: str,
    beam_args: list,
    cache_dir: str,
    examples: Input[Dataset],
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
):
    """Fits the tf.Transform vocabulary on train (and unlabeled reviews, where asked) and maps
    every split to id sequences."""
    from components.common.provenance import check_code_version

    check_code_version(code_version)
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import TransformConfig
    from components.common.tasks import SENTIMENT
    from components.transform.transform import run_transform_step

    config = TransformConfig(
        vocab_size=vocab_size,
        max_seq_len=max_seq_len,
        punctuation=punctuation,
        vocabulary_text=vocabulary_text,
    )
    run_transform_step(
        SENTIMENT,
        config,
        examples,
        transform_graph,
        transformed_examples,
        beam_args,
        cache_dir,
        start,
    )


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def transform_forecast(
    code_version: str,
    lookback: int,
    horizon: int,
    scaling: str,
    forecast_target: str,
    beam_args: list,
    cache_dir: str,
    examples: Input[Dataset],
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
):
    """Fits the tf.Transform scaling on the train period and cuts every period into windows."""
    from components.common.provenance import check_code_version

    check_code_version(code_version)
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import WindowConfig
    from components.common.tasks import FORECAST
    from components.transform.transform import run_transform_step

    window = WindowConfig(
        lookback=lookback, horizon=horizon, scaling=scaling, forecast_target=forecast_target
    )
    run_transform_step(
        FORECAST,
        window,
        examples,
        transform_graph,
        transformed_examples,
        beam_args,
        cache_dir,
        start,
    )

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
    beam_args: list,
    examples: Output[Dataset],
):
    """Reads labeled reviews and writes train/eval/test tf.Examples."""
    import time

    start = time.monotonic()
    from components.common import logs
    from components.common.config import IngestConfig
    from components.ingest.ingest import run_ingest

    logs.configure()
    config = IngestConfig(
        source=source,
        data_dir=data_dir,
        text_field=text_field,
        label_field=label_field,
        split_field=split_field,
        eval_fraction=eval_fraction,
        max_examples=max_examples,
    )
    counts = run_ingest(config, examples.path, beam_args)
    examples.metadata.update(counts=counts, seconds=time.monotonic() - start)

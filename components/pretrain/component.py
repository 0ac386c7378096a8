"""KFP component: pretrain (sentiment only). A thin wrapper; the work is in
components.pretrain.pretrain."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def pretrain(
    code_version: str,
    model_type: str,
    embedding_dim: int,
    units: int,
    pretrain_tokens: int,
    pretrain_sampled_words: int,
    pretrain_window: int,
    pretrain_batch_size: int,
    pretrain_learning_rate: float,
    pretrain_held_out: float,
    pretrain_seed: int,
    cache_dir: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    encoder: Output[Artifact],
):
    """Trains a model type's encoder as a language model on train + unlabeled reviews."""
    from components.common.provenance import check_code_version

    check_code_version(code_version)
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import PretrainConfig
    from components.pretrain.pretrain import run_pretrain_step

    config = PretrainConfig(
        pretrain_tokens=pretrain_tokens,
        pretrain_sampled_words=pretrain_sampled_words,
        pretrain_window=pretrain_window,
        pretrain_batch_size=pretrain_batch_size,
        pretrain_learning_rate=pretrain_learning_rate,
        pretrain_held_out=pretrain_held_out,
        pretrain_seed=pretrain_seed,
    )
    run_pretrain_step(
        config,
        model_type,
        embedding_dim,
        units,
        transformed_examples,
        transform_graph,
        encoder,
        cache_dir,
        start,
    )

"""KFP component: train. A thin wrapper; the work is in components.train.train."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def train(
    model_type: str,
    epochs: int,
    batch_size: int,
    embedding_dim: int,
    units: int,
    dense_units: int,
    learning_rate: float,
    patience: int,
    seed: int,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Output[Model],
):
    """Trains the recurrent classifier, early-stopped on the eval split."""
    import time

    start = time.monotonic()
    from components.common import logs
    from components.common.config import TrainConfig
    from components.train.train import run_train

    logs.configure()
    config = TrainConfig(
        model_type=model_type,
        epochs=epochs,
        batch_size=batch_size,
        embedding_dim=embedding_dim,
        units=units,
        dense_units=dense_units,
        learning_rate=learning_rate,
        patience=patience,
        seed=seed,
    )
    info = run_train(config, transformed_examples.path, transform_graph.path, model.path)
    model.metadata.update(
        model_type=info["type"],
        total_params=info["total_params"],
        best_epoch=info["best_epoch"],
        seconds=time.monotonic() - start,
    )

"""KFP components: train, one per task. Thin wrappers; the work is in components.train.train.

Each writes `model` and `tensorboard_logs`, the per-epoch train and eval curves for
`tensorboard --logdir`.
"""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from components.common.images import DEFAULT_IMAGE


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def train_sentiment(
    code_version: str,
    model_type: str,
    epochs: int,
    batch_size: int,
    embedding_dim: int,
    embedding_init: str,
    embedding_text: str,
    units: int,
    dense_units: int,
    pooling: str,
    dropout: float,
    learning_rate: float,
    learning_rate_decay: float,
    patience: int,
    seed: int,
    members: int,
    memory_budget_mb: int,
    cache_dir: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    pretrained_encoder: Input[Artifact],
    model: Output[Model],
    tensorboard_logs: Output[Artifact],
):
    """Trains the recurrent classifier, from the pretrained encoder where pretraining was on,
    early-stopped on eval-split accuracy."""
    from components.common.provenance import check_code_version

    check_code_version(code_version)
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import TrainConfig
    from components.common.tasks import SENTIMENT
    from components.train.train import run_train_step

    config = TrainConfig(
        model_type=model_type,
        epochs=epochs,
        batch_size=batch_size,
        embedding_dim=embedding_dim,
        embedding_init=embedding_init,
        embedding_text=embedding_text,
        units=units,
        dense_units=dense_units,
        pooling=pooling,
        dropout=dropout,
        learning_rate=learning_rate,
        learning_rate_decay=learning_rate_decay,
        patience=patience,
        seed=seed,
        members=members,
        memory_budget_mb=memory_budget_mb,
    )
    run_train_step(
        SENTIMENT,
        config,
        transformed_examples,
        transform_graph,
        model,
        tensorboard_logs,
        cache_dir,
        start,
        pretrained_encoder,
    )


@dsl.component(base_image=DEFAULT_IMAGE, install_kfp_package=False)
def train_forecast(
    code_version: str,
    model_type: str,
    epochs: int,
    batch_size: int,
    units: int,
    dense_units: int,
    pooling: str,
    dropout: float,
    learning_rate: float,
    learning_rate_decay: float,
    patience: int,
    seed: int,
    members: int,
    memory_budget_mb: int,
    cache_dir: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Output[Model],
    tensorboard_logs: Output[Artifact],
):
    """Trains the recurrent forecaster, early-stopped on the eval period's loss."""
    from components.common.provenance import check_code_version

    check_code_version(code_version)
    import time

    start = time.monotonic()
    from components.common import lifetime, logs

    logs.configure()  # Before any import of TensorFlow: it starts TensorFlow quietly.
    lifetime.end_with_local_run()
    from components.common.config import TrainConfig
    from components.common.tasks import FORECAST
    from components.train.train import run_train_step

    config = TrainConfig(
        model_type=model_type,
        epochs=epochs,
        batch_size=batch_size,
        units=units,
        dense_units=dense_units,
        pooling=pooling,
        dropout=dropout,
        learning_rate=learning_rate,
        learning_rate_decay=learning_rate_decay,
        patience=patience,
        seed=seed,
        members=members,
        memory_budget_mb=memory_budget_mb,
    )
    run_train_step(
        FORECAST,
        config,
        transformed_examples,
        transform_graph,
        model,
        tensorboard_logs,
        cache_dir,
        start,
    )

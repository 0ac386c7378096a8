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
    embedding_init: str,
    units: int,
    dense_units: int,
    pooling: str,
    dropout: float,
    learning_rate: float,
    learning_rate_decay: float,
    patience: int,
    seed: int,
    task: str,
    cache_dir: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    model: Output[Model],
    tensorboard_logs: Output[Artifact],
):
    """Trains the recurrent classifier (or forecaster), early-stopped on the eval split.

    `tensorboard_logs` holds the per-epoch train and eval curves for `tensorboard --logdir`.
    """
    import time

    start = time.monotonic()
    from dataclasses import asdict

    from components.common import lifetime, logs
    from components.common.config import TaskConfig, TrainConfig
    from components.common.io import read_json
    from components.common.step_cache import run_cached, step_key
    from components.train.train import MODEL_INFO_FILE, run_train, write_tensorboard_logs

    logs.configure()
    lifetime.end_with_local_run()
    config = TrainConfig(
        model_type=model_type,
        epochs=epochs,
        batch_size=batch_size,
        embedding_dim=embedding_dim,
        embedding_init=embedding_init,
        units=units,
        dense_units=dense_units,
        pooling=pooling,
        dropout=dropout,
        learning_rate=learning_rate,
        learning_rate_decay=learning_rate_decay,
        patience=patience,
        seed=seed,
    )
    task = TaskConfig(task).task
    inputs = [transformed_examples.path, transform_graph.path]
    key = step_key("train", {**asdict(config), "task": task}, inputs)
    # Where an interrupted training of the very same inputs left its state, to resume it.
    checkpoint_dir = f"{cache_dir}/train-{key}.checkpoint" if cache_dir else ""
    reused = run_cached(
        "train",
        key,
        {"model": model.path},
        cache_dir,
        lambda: run_train(config, *inputs, model.path, checkpoint_dir, task),
    )
    write_tensorboard_logs(model.path, tensorboard_logs.path)
    info = read_json(f"{model.path}/{MODEL_INFO_FILE}")
    model.metadata.update(
        model_type=info["type"],
        total_params=info["total_params"],
        best_epoch=info["best_epoch"],
        **{name: value for name, value in info.items() if name.startswith("eval_")},
        reused=reused,
        **logs.step_stats(start),
    )

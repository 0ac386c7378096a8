"""Train: fit a task's recurrent model on the transformed train split, early-stopped on eval.

Outputs under `model_dir`:
    model.keras         the trained Keras model with the best eval epoch's weights
    history.json        per-epoch loss and metrics on train and eval, and the best epoch
    model_info.json     model type, parameter count, train and transform configuration
    model_summary.txt   Keras' layer-by-layer summary

The entry point and the training loop, the same for every task; what a task trains (model,
loss, data) comes from its module, sentiment.py or forecast.py, through LEARNINGS.
TensorBoard logs are written from history.json (write_tensorboard_logs), so a resumed or reused
training yields the same logs as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile

import keras
import tensorflow as tf

from components.common import logs
from components.common.artifacts import (
    HISTORY_FILE,
    MODEL_FILE,
    MODEL_INFO_FILE,
    MODEL_SUMMARY_FILE,
)
from components.common.config import TrainConfig
from components.common.io import atomic_directory, exists, read_json, rmtree, write_json
from components.common.step_cache import run_cached, step_key
from components.common.tasks import FORECAST, SENTIMENT, TASKS
from components.train.callbacks import (
    EarlyStoppingWithCheckpoints,
    EpochSeededDropout,
    TrainingProgress,
)
from components.train.forecast import forecast_learning
from components.train.learning import FileSplit, InMemorySplit, Learning, read_split
from components.train.sentiment import sentiment_learning

logger = logging.getLogger(__name__)

# Task -> learning(config, transformed_dir, transform_graph_dir): what the task trains.
LEARNINGS = {SENTIMENT: sentiment_learning, FORECAST: forecast_learning}


def run_train(
    task: str,
    config: TrainConfig,
    transformed_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    checkpoint_dir: str = "",
    **task_inputs: str,
) -> dict:
    """Trains `config.model_type` and writes the model, its history and its info; returns info.

    With `config.members` above 1, trains each member as a training with its seed alone would
    and writes their ensemble, whose eval metrics are measured on the eval split.
    With `checkpoint_dir`, training saves its state there every epoch and, when that folder
    holds the state of an interrupted run, resumes after its last finished epoch.
    `task_inputs` are the task's own input folders: for sentiment, `pretrain_dir` (the
    pretrain step's output).
    """
    spec = TASKS[task]
    log_devices()
    members, stoppings = [], []
    with tempfile.TemporaryDirectory(prefix="train-splits-") as scratch_dir:
        for member_config in config.member_configs():
            learning = LEARNINGS[task](
                member_config, transformed_dir, transform_graph_dir, **task_inputs
            )
            keras.utils.set_random_seed(member_config.seed)
            stopping = EarlyStoppingWithCheckpoints(
                config.patience,
                member_checkpoint_dir(checkpoint_dir, config, member_config),
                spec.monitor,
                spec.higher_is_better,
            )
            if not members:  # The splits are the same for every member.
                train = read_split(learning.train, "train", config.memory_budget_mb, scratch_dir)
                evaluation = read_split(
                    learning.evaluation, "eval", config.memory_budget_mb, scratch_dir
                )
            member, summary_lines = train_model(
                member_config, learning, stopping, train, evaluation
            )
            stopping.restore_best()
            members.append(member)
            stoppings.append(stopping)
        if len(members) == 1:
            model, eval_metrics = members[0], best_epoch_eval_metrics(stoppings[0])
        else:
            model = ensemble(config, members)
            summary_lines = []
            model.summary(print_fn=lambda line, **_: summary_lines.append(line))
            # Scored through a compiled twin sharing its layers: the model saved carries no
            # optimizer, as none trained it.
            scored = keras.Model(model.inputs, model.outputs)
            scored.compile(loss=learning.loss, metrics=learning.metrics)
            measured = scored.evaluate(
                evaluation.batches(config.batch_size), return_dict=True, verbose=0
            )
            eval_metrics = {f"eval_{name}": float(value) for name, value in measured.items()}

    info = model_info(config, model, stoppings, eval_metrics, len(train), learning.settings)
    with atomic_directory(model_dir) as staging:
        model.save(f"{staging}/{MODEL_FILE}")
        with tf.io.gfile.GFile(f"{staging}/{MODEL_SUMMARY_FILE}", "w") as summary_file:
            summary_file.write("\n".join(summary_lines) + "\n")
        write_json(f"{staging}/{HISTORY_FILE}", training_history(config, stoppings))
        write_json(f"{staging}/{MODEL_INFO_FILE}", info)
    if checkpoint_dir and exists(checkpoint_dir):
        rmtree(checkpoint_dir)  # The finished model supersedes it.
    seeds = [member["seed"] for member in info.get("members", [])]
    logger.info(
        "train: %s%s with %d parameters, best epoch %d of %d%s, eval %s",
        config.model_type,
        f" ensemble of seeds {seeds}" if seeds else "",
        info["total_params"],
        info["best_epoch"],
        info["epochs_trained"],
        " (the first member's)" if seeds else "",
        ", ".join(
            f"{name.removeprefix('eval_')} {value:.4f}" for name, value in eval_metrics.items()
        ),
    )
    return info


def member_checkpoint_dir(checkpoint_dir: str, config: TrainConfig, member: TrainConfig) -> str:
    """Where a member saves its state: the training's own folder for a single model, a folder
    per member's seed in it for an ensemble."""
    if not checkpoint_dir or config.members == 1:
        return checkpoint_dir
    return f"{checkpoint_dir}/seed-{member.seed}"


def ensemble(config: TrainConfig, members: list[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' outputs on the same input."""
    for member_config, member in zip(config.member_configs(), members, strict=True):
        # Each member is built with the model type's name; the ensemble needs them distinct.
        member.name = f"{member.name}_seed_{member_config.seed}"
    first_input = members[0].inputs[0]
    inputs = keras.Input(
        shape=first_input.shape[1:], dtype=first_input.dtype, name=first_input.name
    )
    mean = keras.layers.Average(name="members_mean")([member(inputs) for member in members])
    return keras.Model(inputs, mean, name=f"{config.model_type.replace('-', '_')}_ensemble")


def log_devices() -> None:
    """Logs what TensorFlow trains on: on a cluster with --train-gpus, whether the step's image
    sees the GPUs the step was given (the pip TensorFlow finds them only with the NVIDIA
    libraries of its and-cuda extra, which the GPU image adds)."""
    devices = [d.name.removeprefix("/physical_device:") for d in tf.config.list_physical_devices()]
    logger.info("train: TensorFlow %s sees %s", tf.__version__, ", ".join(devices))


def train_model(
    config: TrainConfig,
    learning: Learning,
    stopping: EarlyStoppingWithCheckpoints,
    train: InMemorySplit | FileSplit,
    evaluation: InMemorySplit | FileSplit,
) -> tuple[keras.Model, list[str]]:
    """The model, built (or resumed) and trained as far as `stopping` lets it, and the lines of
    its Keras summary."""
    model = stopping.resume() or learning.build_model(train.feature_rows())
    if not model.compiled:
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss=learning.loss,
            metrics=learning.metrics,
        )
    summary_lines = []
    model.summary(print_fn=lambda line, **_: summary_lines.append(line))
    logger.info("%s", "\n".join(summary_lines))
    if stopping.wait < config.patience:
        fit(model, config, stopping, train, evaluation)
    return model, summary_lines


def fit(
    model: keras.Model,
    config: TrainConfig,
    stopping: EarlyStoppingWithCheckpoints,
    train: InMemorySplit | FileSplit,
    evaluation: InMemorySplit | FileSplit,
) -> None:
    """Trains `model` on train, watched on eval, from the epoch after the last one `stopping`
    has seen, until it stops or `config.epochs` are done."""
    batches = epoch_batches(
        train,
        config.seed,
        config.batch_size,
        first_epoch=stopping.epochs_done,
        epochs=config.epochs,
    )
    eval_batches = evaluation.batches(config.batch_size)
    steps_per_epoch = -(-len(train) // config.batch_size)
    callbacks = [
        EpochSeededDropout(config.seed),
        stopping,
        TrainingProgress(config.epochs, steps_per_epoch),
    ]
    if config.learning_rate_decay < 1:
        # Set from the epoch number alone, so a resumed run continues the same schedule.
        schedule = keras.callbacks.LearningRateScheduler(
            lambda epoch: config.learning_rate * config.learning_rate_decay**epoch
        )
        callbacks.insert(0, schedule)  # First, so the history records each epoch's rate.
    model.fit(
        batches.prefetch(tf.data.AUTOTUNE),
        validation_data=eval_batches,
        epochs=config.epochs,
        initial_epoch=stopping.epochs_done,
        # `batches` holds only the epochs still to run, one after another.
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,  # `batches` shuffles itself (seeded): Keras shuffles only arrays.
    )


def epoch_batches(
    split: InMemorySplit | FileSplit, seed: int, batch_size: int, first_epoch: int, epochs: int
) -> tf.data.Dataset:
    """The batches of epochs `first_epoch` .. `epochs` - 1, one after another, each epoch's
    examples in an order set by the seed and the epoch's number alone.

    So a training resumed after epoch k sees the same batches in epoch k + 1 as one that was
    never interrupted (a dataset reshuffled each iteration would restart at its first order).
    """

    def one_epoch(epoch):
        return split.batches(batch_size, shuffle_seed=seed * 1_000_003 + epoch)

    return tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)


def best_epoch_eval_metrics(stopping: EarlyStoppingWithCheckpoints) -> dict[str, float]:
    """The eval metrics of the epoch kept: eval_loss and eval_accuracy (or eval_rmse)."""
    return {
        f"eval_{name.removeprefix('val_')}": values[stopping.best_epoch]
        for name, values in stopping.history.items()
        if name.startswith("val_")
    }


def model_info(
    config: TrainConfig,
    model: keras.Model,
    stoppings: list[EarlyStoppingWithCheckpoints],
    eval_metrics: dict[str, float],
    train_examples: int,
    settings: dict,
) -> dict:
    """What model_info.json says of the trained model: its size, training, best epoch and eval
    metrics. For an ensemble, epochs are the first member's, and `members` has each one's."""
    members = [
        {
            "seed": member_config.seed,
            "epochs_trained": len(stopping.history[stopping.monitor]),
            "best_epoch": stopping.best_epoch + 1,
            **best_epoch_eval_metrics(stopping),
            "train_seconds": sum(stopping.history["epoch_seconds"]),
        }
        for member_config, stopping in zip(config.member_configs(), stoppings, strict=True)
    ]
    return {
        "type": config.model_type,
        "total_params": model.count_params(),
        "epochs_trained": members[0]["epochs_trained"],
        "best_epoch": members[0]["best_epoch"],
        "train_examples": train_examples,
        **eval_metrics,
        "train_seconds": sum(member["train_seconds"] for member in members),
        "train_config": dataclasses.asdict(config),
        **({"members": members} if len(members) > 1 else {}),
        **settings,
    }


def training_history(config: TrainConfig, stoppings: list[EarlyStoppingWithCheckpoints]) -> dict:
    """history.json: the per-epoch metrics and best epoch; for an ensemble, the first member's,
    and under `members` each one's."""

    def history(stopping: EarlyStoppingWithCheckpoints) -> dict:
        return {
            "per_epoch": stopping.history,
            "best_epoch": stopping.best_epoch + 1,
            "monitor": stopping.monitor,
        }

    if len(stoppings) == 1:
        return history(stoppings[0])
    members = [
        {"seed": member_config.seed, **history(stopping)}
        for member_config, stopping in zip(config.member_configs(), stoppings, strict=True)
    ]
    return {**history(stoppings[0]), "members": members}


def write_tensorboard_logs(model_dir: str, log_dir: str) -> None:
    """Per-epoch scalars of a trained model's history as TensorBoard event files.

    The layout is Keras' TensorBoard callback's (`train/` and `validation/` runs, `epoch_*`
    tags), so `tensorboard --logdir` shows train and eval curves on one chart.
    """
    per_epoch = read_json(f"{model_dir}/{HISTORY_FILE}")["per_epoch"]
    runs = {"train": {}, "validation": {}}
    for name, values in per_epoch.items():
        if name.startswith("val_"):
            runs["validation"][name.removeprefix("val_")] = values
        else:
            runs["train"][name] = values
    for run, scalars in runs.items():
        writer = tf.summary.create_file_writer(f"{log_dir}/{run}")
        with writer.as_default():
            for name, values in scalars.items():
                for epoch, value in enumerate(values):
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch)
        writer.close()


def run_train_step(
    task: str,
    config: TrainConfig,
    transformed_examples,
    transform_graph,
    model,
    tensorboard_logs,
    cache_dir: str,
    start: float,
    pretrained_encoder=None,
) -> None:
    """The pipeline step: trains into the `model` artifact (or reuses an earlier training of the
    same inputs from `cache_dir`, or resumes an interrupted one), writes `tensorboard_logs` and
    records the model's eval metrics in its metadata. A sentiment classifier starts from
    `pretrained_encoder`, the pretrain step's artifact, where pretraining was on."""
    logs.configure()
    inputs = [transformed_examples.path, transform_graph.path]
    task_inputs = {"pretrain_dir": pretrained_encoder.path} if pretrained_encoder else {}
    key = step_key(
        "train", {**dataclasses.asdict(config), "task": task}, inputs + list(task_inputs.values())
    )
    # Where an interrupted training of the very same inputs left its state, to resume it.
    checkpoint_dir = f"{cache_dir}/train-{key}.checkpoint" if cache_dir else ""
    reused = run_cached(
        "train",
        key,
        {"model": model.path},
        cache_dir,
        lambda: run_train(task, config, *inputs, model.path, checkpoint_dir, **task_inputs),
    )
    write_tensorboard_logs(model.path, tensorboard_logs.path)
    info = read_json(f"{model.path}/{MODEL_INFO_FILE}")
    model.metadata.update(
        model_type=info["type"],
        total_params=info["total_params"],
        best_epoch=info["best_epoch"],
        members=info["train_config"]["members"],
        **{name: value for name, value in info.items() if name.startswith("eval_")},
        reused=reused,
        **logs.step_stats(start),
    )

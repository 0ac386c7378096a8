"""What each task is: the one place that declares a task's sources, splits, metrics and steps.

Components and pipelines look a task's facts up here instead of branching on its name, so a
new task is a new spec (and its own code beside the shared code), not a new branch everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SENTIMENT, FORECAST = "sentiment", "forecast"


@dataclass(frozen=True)
class TaskSpec:
    """The declared facts of one task.

    Attributes:
        name: the task's name, as `--task` takes it.
        pipeline_name: the name of the task's compiled pipeline.
        description: the pipeline's description.
        source_kinds: the `--source` kinds the task reads.
        splits: the splits a source must give records for, or ingest fails.
        monitor: the eval metric early stopping watches, as Keras names it in the history.
        higher_is_better: whether a larger `monitor` (and selection metric) is better.
        test_metrics: the test metrics a run reports as KFP Metrics, in that order.
        baseline: whether the n-gram baseline step applies.
        display_names: step -> display name in the pipeline; its keys, in DAG order, are the
            task's steps.
    """

    name: str
    pipeline_name: str
    description: str
    source_kinds: tuple[str, ...]
    splits: tuple[str, ...]
    monitor: str
    higher_is_better: bool
    test_metrics: tuple[str, ...]
    baseline: bool
    display_names: Mapping[str, str]

    @property
    def selection_metric(self) -> str:
        """The model_info.json name of `monitor` at the best epoch, which compare ranks by."""
        return "eval_" + self.monitor.removeprefix("val_")

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(self.display_names)


TASKS: dict[str, TaskSpec] = {
    SENTIMENT: TaskSpec(
        name=SENTIMENT,
        pipeline_name="lstm-sentiment",
        description="IMDB-style sentiment with an LSTM: ingest reviews, tf.Transform, train, "
        "evaluate, export a SavedModel over raw text.",
        source_kinds=("tfds", "aclimdb", "csv", "jsonl"),
        splits=("train", "test"),
        monitor="val_accuracy",
        higher_is_better=True,
        test_metrics=("accuracy", "auc", "precision", "recall", "f1", "loss"),
        baseline=True,
        display_names={
            "ingest": "Ingest reviews",
            "transform": "Vectorize with tf.Transform",
            "pretrain": "Pretrain encoder as a language model",
            "train": "Train model",
            "compare": "Pick the champion",
            "evaluate": "Evaluate on test reviews",
            "export": "Export serving model",
            "baseline": "Train n-gram baseline",
            "report": "Write the report",
        },
    ),
    FORECAST: TaskSpec(
        name=FORECAST,
        pipeline_name="lstm-forecast",
        description="Time series forecasting with an LSTM: ingest a series, tf.Transform "
        "scaling and windows, train, evaluate against persistence, export a SavedModel over "
        "raw values.",
        source_kinds=("sine", "csv"),
        splits=("train", "eval", "test"),
        monitor="val_loss",
        higher_is_better=False,
        test_metrics=("rmse", "mae", "mape", "rmse_vs_persistence", "rmse_vs_noise"),
        baseline=False,
        display_names={
            "ingest": "Ingest series",
            "transform": "Scale and window with tf.Transform",
            "train": "Train forecaster",
            "compare": "Pick the champion",
            "evaluate": "Evaluate on the test period",
            "export": "Export serving model",
            "report": "Write the report",
        },
    ),
}

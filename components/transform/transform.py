"""Transform: fit tf.Transform on the train split, then transform train, eval and test.

The entry point. Each task's transform is its own module (sentiment.py: a vocabulary and id
sequences; forecast.py: a scaling and windows); the Beam and tf.Transform plumbing they share
is in analyze.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from components.common import logs
from components.common.config import TransformConfig, WindowConfig
from components.common.step_cache import run_cached, step_key
from components.common.tasks import FORECAST, SENTIMENT
from components.transform.forecast import run_forecast_transform
from components.transform.sentiment import run_sentiment_transform, vocabulary_figures

# Task -> its transform, run(config, examples_dir, transform_graph_dir, transformed_dir,
# beam_args), where config is the task's: a TransformConfig or a WindowConfig.
TRANSFORMS = {SENTIMENT: run_sentiment_transform, FORECAST: run_forecast_transform}
# Task -> the figures of a finished transform that the console shows, from its graph.
FIGURES = {SENTIMENT: vocabulary_figures, FORECAST: lambda transform_graph_dir: {}}


def run_transform(
    task: str,
    config: TransformConfig | WindowConfig,
    examples_dir: str,
    transform_graph_dir: str,
    transformed_dir: str,
    beam_args: Sequence[str] = (),
) -> None:
    """Fits the task's statistics on train and writes the transform graph and every split."""
    TRANSFORMS[task](config, examples_dir, transform_graph_dir, transformed_dir, beam_args)


def run_transform_step(
    task: str,
    config: TransformConfig | WindowConfig,
    examples,
    transform_graph,
    transformed_examples,
    beam_args: Sequence[str],
    cache_dir: str,
    start: float,
) -> None:
    """The pipeline step: runs the task's transform of `examples` into the two output
    artifacts (or reuses an earlier run of the same inputs from `cache_dir`)."""
    logs.configure()
    outputs = {
        "transform_graph": transform_graph.path,
        "transformed_examples": transformed_examples.path,
    }
    key = step_key("transform", {**asdict(config), "task": task}, [examples.path])
    reused = run_cached(
        "transform",
        key,
        outputs,
        cache_dir,
        lambda: run_transform(task, config, examples.path, *outputs.values(), beam_args),
    )
    figures = FIGURES[task](transform_graph.path)
    transform_graph.metadata.update(reused=reused, **figures, **logs.step_stats(start))

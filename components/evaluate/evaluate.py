"""Evaluate: the serving model on the raw test split, and whether it is good enough to export.

The entry point. Each task's evaluation is its own module (sentiment.py: accuracy, slices and
mistakes on the test reviews; forecast.py: errors against persistence on the test period); the
candidate serving model and the result file they share are in candidate.py. Output under
`output_dir`: evaluation.json (and for a forecast forecast.png).
"""

from __future__ import annotations

from dataclasses import asdict

from components.common import logs
from components.common.artifacts import EVALUATION_FILE
from components.common.config import EvaluateConfig
from components.common.io import read_json
from components.common.serving import newest_version
from components.common.step_cache import (
    candidate_key,
    read_candidate_key,
    run_cached,
    step_key,
)
from components.common.tasks import FORECAST, SENTIMENT
from components.evaluate.forecast import run_forecast_evaluate
from components.evaluate.sentiment import run_sentiment_evaluate

# Task -> evaluate(config, examples_dir, transform_graph_dir, model_dir, output_dir).
EVALUATIONS = {SENTIMENT: run_sentiment_evaluate, FORECAST: run_forecast_evaluate}


def run_evaluate(
    task: str,
    config: EvaluateConfig,
    examples_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    output_dir: str,
) -> dict:
    """Evaluates the serving model built from the model and transform graph; returns the result."""
    return EVALUATIONS[task](config, examples_dir, transform_graph_dir, model_dir, output_dir)


def run_evaluate_step(
    task: str,
    config: EvaluateConfig,
    examples,
    transform_graph,
    model,
    evaluation,
    cache_dir: str,
    start: float,
) -> dict:
    """The pipeline step: evaluates into the `evaluation` artifact (or reuses an earlier
    evaluation of the same inputs from `cache_dir`), records the blessing in its metadata, and
    returns the result."""
    logs.configure()
    inputs = [examples.path, transform_graph.path, model.path]
    # The served model to beat is an input too: a new push there changes the verdict. When it
    # is this very candidate (an identical earlier run pushed it), there is nothing else to beat.
    served = newest_version(config.export_dir)
    if served and read_candidate_key(served) == candidate_key(transform_graph.path, model.path):
        served = None
    params = {**asdict(config), "served": served, "task": task}
    reused = run_cached(
        "evaluate",
        step_key("evaluate", params, inputs),
        {"evaluation": evaluation.path},
        cache_dir,
        lambda: run_evaluate(task, config, *inputs, evaluation.path),
    )
    result = read_json(f"{evaluation.path}/{EVALUATION_FILE}")
    evaluation.metadata.update(
        blessed=result["blessed"],
        blessing_reason=result["blessing_reason"],
        reused=reused,
        **logs.step_stats(start),
    )
    return result

"""The forecast task through every step's component body, and its option errors through the CLI.

The steps run in-process, in DAG order, on local paths, each called with the pipeline's own
arguments for a forecast run; a kfp.local run of the same DAG (README, Forecasting) costs 50 s
of process start-ups, too much for the default suite.
"""

import dataclasses
import inspect

import numpy as np
import pytest
import tensorflow as tf
from kfp import dsl

from components.common import features as F
from components.common.config import task_defaults
from components.common.tasks import FORECAST
from pipeline.cli import main
from pipeline.dag import STEP_COMPONENTS, pipeline_arguments


def test_every_step_does_the_forecast_work_on_a_short_sine(tmp_path):
    defaults = task_defaults("forecast")
    config = dataclasses.replace(
        defaults,
        series=dataclasses.replace(defaults.series, sine_length=400, sine_period=25.0),
        window=dataclasses.replace(defaults.window, lookback=10),
        train=dataclasses.replace(defaults.train, epochs=2, units=8, dense_units=8),
    )
    arguments = pipeline_arguments(config)
    arguments["model_type"] = arguments.pop("model_types")[0]  # One ParallelFor iteration.
    arguments["task"] = FORECAST  # The constant the pipeline gives the steps shared by tasks.
    components = STEP_COMPONENTS[FORECAST]
    assert "baseline" not in components  # Persistence, in evaluate, is a forecast's yardstick.

    def run(step, **artifacts):
        """Calls the step's component body with the pipeline arguments it takes."""
        component = components[step]
        parameters = inspect.signature(component.python_func).parameters
        taken = {name: arguments[name] for name in parameters if name in arguments}
        return component.python_func(**taken, **artifacts)

    def artifact(kind, name):
        return kind(uri=str(tmp_path / name))

    examples = artifact(dsl.Dataset, "examples")
    run("ingest", examples=examples)
    assert examples.metadata["counts"]["written"] == {"train": 280, "eval": 60, "test": 60}
    graph, windows = artifact(dsl.Artifact, "graph"), artifact(dsl.Dataset, "windows")
    run("transform", examples=examples, transform_graph=graph, transformed_examples=windows)
    model, logs = artifact(dsl.Model, "model"), artifact(dsl.Artifact, "tensorboard")
    run(
        "train",
        transformed_examples=windows,
        transform_graph=graph,
        model=model,
        tensorboard_logs=logs,
    )
    assert model.metadata["eval_loss"] > 0 and "eval_rmse" in model.metadata
    champion, board = artifact(dsl.Model, "champion"), artifact(dsl.Artifact, "board")
    board_metrics = artifact(dsl.Metrics, "board_metrics")
    run(
        "compare",
        models=[model],
        champion=champion,
        leaderboard=board,
        leaderboard_metrics=board_metrics,
    )

    def evaluate(name, max_rmse_ratio):
        """Evaluates the champion with --max-rmse-ratio; whether blessed, and the metrics."""
        arguments["max_rmse_ratio"] = max_rmse_ratio
        evaluation, metrics = artifact(dsl.Artifact, name), artifact(dsl.Metrics, f"{name}_m")
        blessed = run(
            "evaluate",
            examples=examples,
            transform_graph=graph,
            model=champion,
            evaluation=evaluation,
            metrics=metrics,
        )
        return blessed, metrics.metadata

    # Blessed exactly when the test RMSE is at most --max-rmse-ratio times persistence's: just
    # above this model's own ratio blesses it, just below does not.
    _, metrics = evaluate("probe", 1.0)
    assert {"rmse", "mae", "persistence rmse", "persistence mae"} <= set(metrics)
    ratio = metrics["rmse"] / metrics["persistence rmse"]
    assert evaluate("strict", ratio * 0.999)[0] is False
    blessed, _ = evaluate("evaluation", ratio * 1.001)
    assert blessed is True
    evaluation = artifact(dsl.Artifact, "evaluation")
    assert (tmp_path / "evaluation" / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    serving_model = artifact(dsl.Model, "serving_model")
    run("export", transform_graph=graph, model=champion, serving_model=serving_model)
    page = artifact(dsl.HTML, "report.html")
    run(
        "report",
        transformed_examples=windows,
        transform_graph=graph,
        model=champion,
        evaluation=evaluation,
        leaderboard=board,
        report_files=artifact(dsl.Artifact, "report"),
        report_page=page,
    )
    assert "<h2>Actual and forecast values (test period)</h2>" in open(page.path).read()

    serve = tf.saved_model.load(serving_model.metadata["version_path"])
    window = np.sin(2 * np.pi * np.arange(10) / 25)[np.newaxis].astype(np.float32)
    forecast = serve.signatures[F.SERVING_SIGNATURE](values=tf.constant(window))
    assert forecast[F.SERVING_FORECAST_KEY].shape == (1,)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "forecast", "--source", "tfds"], "with --task forecast, KIND[:LOCATION]"),
        (["--source", "sine:"], "--source='sine:' is not allowed: with --task sentiment"),
        (["--task", "forecast", "--target", "Closee"], "has no column 'Closee'"),
        (["--task", "forecast", "--lookback", "0"], "--lookback=0 is not allowed: 1 or more"),
        (["--task", "forecast", "--scaling", "log"], "--scaling='log' is not allowed"),
        (["--task", "weather"], "--task='weather' is not allowed"),
    ],
)
def test_each_bad_forecast_option_exits_2_naming_it(tmp_path, capsys, args, message):
    prices = tmp_path / "prices.csv"
    prices.write_text("Date,Close\n2017-08-11,157.48\n")
    if "--target" in args:
        args = [*args, "--source", f"csv:{prices}"]
    assert main(["run", "--output-dir", str(tmp_path / "out"), *args]) == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert not (tmp_path / "out" / "artifacts").exists()  # Nothing ran.

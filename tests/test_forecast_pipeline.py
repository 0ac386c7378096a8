"""The forecast task through the whole DAG locally, through the CLI, as a user runs it."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.common import features as F
from pipeline.cli import main
from pipeline.dag import STEP_NAMES


def test_a_short_sine_runs_end_to_end_and_exports_a_forecaster(tmp_path):
    argv = ["run", "--task", "forecast", "--sine-length", "400", "--sine-period", "25"]
    argv += ["--lookback", "10", "--epochs", "2", "--units", "8", "--dense-units", "8"]
    # Two epochs of a tiny model need not beat persistence; the ratio lets export run.
    argv += ["--learning-rate", "0.01", "--max-rmse-ratio", "100", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert summary["status"] == "succeeded" and summary["config"]["task"]["task"] == "forecast"
    assert {summary["steps"][step]["status"] for step in STEP_NAMES} == {"succeeded"}
    assert summary["counts"] == {"train": 280, "eval": 60, "test": 60}
    test_metrics = summary["metrics"]["test"]
    assert test_metrics["windows"] == 60 and test_metrics["noise_std"] == 0.1
    assert test_metrics["rmse"] > 0 and test_metrics["persistence"]["rmse"] > 0
    assert summary["model"]["window_config"]["lookback"] == 10
    assert summary["baseline"]["applicable"] is False
    assert Path(summary["plot"]).read_bytes()[:4] == b"\x89PNG"
    assert summary["blessed"] is True

    serve = tf.saved_model.load(summary["serving_model"]).signatures[F.SERVING_SIGNATURE]
    window = np.sin(2 * np.pi * np.arange(10) / 25)[np.newaxis].astype(np.float32)
    forecast = serve(values=tf.constant(window))[F.SERVING_FORECAST_KEY].numpy()
    assert forecast.shape == (1,) and np.isfinite(forecast).all()


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

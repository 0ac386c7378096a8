"""Evaluate for forecasting: the serving model on the raw test period, against persistence.

The serving model is fed windows of raw values, so the errors are those of the model that would
be served, scaling included. Each test
target is forecast from the `lookback` values ending `horizon` steps before it, which may reach
back into the eval period: a forecast made at that time would have them.

The yardstick is persistence, the last value read (tomorrow = today), and for a generated sine
its noise level: no forecast can expect a test RMSE below the noise's standard deviation.

Output under `output_dir`:
    evaluation.json   metrics of the model and of persistence (RMSE, MAE, MAPE in the series'
                      units), the test period's dates (or steps), actual and forecast values,
                      and the blessing with its reason
    forecast.png      actual and forecast values over the test period
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np
from matplotlib.figure import Figure

from components.common import features as F
from components.common.artifacts import PLOT_FILE, read_series_description, read_window_config
from components.common.config import EvaluateConfig
from components.common.metrics import error_metrics
from components.common.series import make_windows, read_series
from components.common.serving import newest_version
from components.common.tasks import FORECAST
from components.evaluate.candidate import (
    candidate_signature,
    predict,
    served_signature,
    write_evaluation,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 1024


class ServedModelMismatch(ValueError):
    """The model at the serving destination is not a forecaster that can be compared."""


def _ratio(numerator: float, denominator: float) -> float:
    if denominator:
        return numerator / denominator
    return 1.0 if numerator == denominator else math.inf


def test_period_windows(examples_dir: str, lookback: int, horizon: int) -> dict[str, np.ndarray]:
    """The raw windows whose targets are in the test period, with the targets' steps and dates."""
    series = read_series(examples_dir)
    positions, histories, targets = make_windows(series.values, lookback, horizon)
    in_test = series.splits[positions] == "test"
    positions = positions[in_test]
    return {
        "histories": histories[in_test],
        "actual": targets[in_test],
        "steps": series.steps[positions],
        "dates": series.dates[positions],
    }


def predict_windows(serving_fn, histories: np.ndarray) -> np.ndarray:
    """The served forecasts of raw windows."""
    histories = histories.astype(np.float32)
    return predict(serving_fn, histories, F.SERVING_VALUES_KEY, F.SERVING_FORECAST_KEY, BATCH_SIZE)


def forecast_metrics(
    actual: np.ndarray, forecast: np.ndarray, persistence: np.ndarray, noise_std: float | None
) -> dict:
    """The model's errors, persistence's, and how they compare (and with the noise level)."""
    model = error_metrics(actual, forecast)
    baseline = error_metrics(actual, persistence)
    ratio = _ratio(model["rmse"], baseline["rmse"])
    return {
        "windows": int(len(actual)),
        **model,
        "persistence": baseline,
        "rmse_vs_persistence": ratio,
        # Skill score: 1 is a perfect forecast, 0 no better than persistence, below 0 worse.
        "skill_vs_persistence": 1 - ratio,
        "noise_std": noise_std,
        "rmse_vs_noise": _ratio(model["rmse"], noise_std) if noise_std else None,
    }


def forecast_blessing(
    metrics: dict, config: EvaluateConfig, served_rmse: float | None = None
) -> tuple[bool, list[str]]:
    """Whether to export, and a reason for each condition checked."""
    rmse, ratio = metrics["rmse"], metrics["rmse_vs_persistence"]
    beats = ratio <= config.max_rmse_ratio
    reasons = [
        f"test RMSE {rmse:.4g} is {ratio:.3f} x persistence's {metrics['persistence']['rmse']:.4g} "
        f"({'<=' if beats else '>'} --max-rmse-ratio {config.max_rmse_ratio})"
    ]
    if served_rmse is None:
        return beats, reasons
    no_regression = rmse <= served_rmse * (1 + config.max_regression)
    relation = "within" if no_regression else "more than"
    reasons.append(
        f"test RMSE {rmse:.4g} is {relation} {config.max_regression:.0%} above "
        f"the served model's {served_rmse:.4g}"
        if rmse > served_rmse
        else f"test RMSE {rmse:.4g} <= the served model's {served_rmse:.4g}"
    )
    return beats and no_regression, reasons


def plot_test_period(x: np.ndarray, actual: np.ndarray, forecast: np.ndarray, title: str) -> bytes:
    """A PNG of actual and forecast values over the test period."""
    # A bare Figure renders with the Agg canvas; pyplot's global state is never touched.
    figure = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    axes = figure.subplots()
    axes.plot(x, actual, color="black", linewidth=1, label="actual")
    axes.plot(x, forecast, color="tab:orange", linewidth=1, label="LSTM forecast")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("date" if np.issubdtype(x.dtype, np.datetime64) else "step")
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _served_forecasts(path: str, windows: dict, examples_dir: str, horizon: int) -> np.ndarray:
    serve = served_signature(path)
    inputs = serve.structured_input_signature[1]
    if F.SERVING_VALUES_KEY not in inputs:
        raise ServedModelMismatch(
            f"the served model {path} takes {sorted(inputs)}, not a window of "
            f"{F.SERVING_VALUES_KEY!r}: --export-dir must hold forecasters to compare with"
        )
    served_lookback = inputs[F.SERVING_VALUES_KEY].shape[1]
    served_windows = test_period_windows(examples_dir, served_lookback, horizon)
    if not np.array_equal(served_windows["steps"], windows["steps"]):
        raise ServedModelMismatch(
            f"the served model {path} reads {served_lookback} values, too many to forecast "
            "every target of this test period"
        )
    return predict_windows(serve, served_windows["histories"])


def run_forecast_evaluate(
    config: EvaluateConfig,
    examples_dir: str,
    transform_graph_dir: str,
    model_dir: str,
    output_dir: str,
) -> dict:
    """Evaluates the serving forecaster on the raw test period; returns the result."""
    window = read_window_config(transform_graph_dir)
    windows = test_period_windows(examples_dir, window.lookback, window.horizon)
    with candidate_signature(FORECAST, transform_graph_dir, model_dir) as serve:
        forecast = predict_windows(serve, windows["histories"])
    description = read_series_description(examples_dir)
    metrics = forecast_metrics(
        windows["actual"], forecast, windows["histories"][:, -1], description["noise_std"]
    )
    previous = newest_version(config.export_dir)
    served = None
    if previous:
        served_forecast = _served_forecasts(previous, windows, examples_dir, window.horizon)
        served = {"path": previous, **error_metrics(windows["actual"], served_forecast)}
    blessed, reasons = forecast_blessing(metrics, config, served and served["rmse"])

    dates = windows["dates"]
    x = dates.astype("datetime64[s]") if dates.size and dates[0] else windows["steps"]
    target = description["target"]
    name = (
        f"sine with noise std {description['noise_std']}"
        if description["kind"] == "sine"
        else " + ".join(target)
    )
    title = (
        f"{name}, test period: LSTM RMSE {metrics['rmse']:.4g}, "
        f"persistence RMSE {metrics['persistence']['rmse']:.4g}"
    )
    result = {
        "task": FORECAST,
        "metrics": metrics,
        "test_series": {
            "steps": windows["steps"].tolist(),
            "dates": dates.tolist(),
            "actual": windows["actual"].tolist(),
            "forecast": forecast.tolist(),
            "persistence": windows["histories"][:, -1].tolist(),
        },
        "plot": PLOT_FILE,
        "max_rmse_ratio": config.max_rmse_ratio,
        "served_model": served,
        "blessed": blessed,
        "blessing_reason": "; ".join(reasons),
    }
    plot = plot_test_period(x, windows["actual"], forecast, title)
    write_evaluation(output_dir, result, {PLOT_FILE: plot})
    logger.info(
        "evaluate: %d test windows, RMSE %.4g (persistence %.4g), MAE %.4g (persistence %.4g); "
        "%s: %s",
        metrics["windows"],
        metrics["rmse"],
        metrics["persistence"]["rmse"],
        metrics["mae"],
        metrics["persistence"]["mae"],
        "blessed" if blessed else "not blessed",
        result["blessing_reason"],
    )
    return result

import numpy as np
import pytest

from components.common.artifacts import EVALUATION_FILE, PLOT_FILE
from components.common.config import FORECAST, EvaluateConfig
from components.common.io import read_json
from components.common.series import read_series
from components.conftest import TINY_SERIES
from components.evaluate.evaluate import run_evaluate
from components.evaluate.forecast import forecast_blessing, forecast_metrics


def test_forecast_metrics_compare_with_persistence_and_the_noise():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    metrics = forecast_metrics(actual, actual + 0.5, actual - 1.0, noise_std=0.25)
    assert metrics["rmse"] == 0.5 and metrics["persistence"]["rmse"] == 1.0
    assert metrics["rmse_vs_persistence"] == 0.5 and metrics["skill_vs_persistence"] == 0.5
    assert metrics["rmse_vs_noise"] == 2.0 and metrics["windows"] == 4


def test_blessing_needs_the_rmse_ratio_and_no_regression_against_the_served_model():
    metrics = {"rmse": 1.2, "rmse_vs_persistence": 1.2, "persistence": {"rmse": 1.0}}
    blessed, reasons = forecast_blessing(metrics, EvaluateConfig())
    assert not blessed and reasons == [
        "test RMSE 1.2 is 1.200 x persistence's 1 (> --max-rmse-ratio 1.0)"
    ]
    lenient = EvaluateConfig(max_rmse_ratio=1.5, max_regression=0.1)
    assert forecast_blessing(metrics, lenient, served_rmse=1.1)[0] is True  # 1.2 <= 1.1 * 1.1.
    blessed, reasons = forecast_blessing(metrics, lenient, served_rmse=1.0)
    assert not blessed and "more than 10% above the served model's 1" in reasons[1]


def test_evaluation_reports_the_test_period_against_persistence_with_a_plot(
    tmp_path, sine_ingested_dir, sine_transformed, sine_model_dir
):
    result = run_evaluate(
        FORECAST,
        EvaluateConfig(),
        sine_ingested_dir,
        sine_transformed["graph"],
        sine_model_dir,
        str(tmp_path),
    )
    assert read_json(f"{tmp_path}/{EVALUATION_FILE}") == result
    assert (tmp_path / PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics, test_series = result["metrics"], result["test_series"]
    series = read_series(sine_ingested_dir)
    test_steps = series.steps[series.splits == "test"]
    # Every test point is forecast, the first ones from windows reaching into eval.
    assert test_series["steps"] == test_steps.tolist() and metrics["windows"] == 60
    np.testing.assert_allclose(test_series["actual"], series.values[test_steps])
    # Persistence with horizon 1 repeats the value before each target.
    np.testing.assert_allclose(test_series["persistence"], series.values[test_steps - 1])
    assert metrics["noise_std"] == TINY_SERIES.sine_noise and metrics["mape"] is None
    assert metrics["rmse"] == pytest.approx(
        np.sqrt(np.mean((np.array(test_series["forecast"]) - test_series["actual"]) ** 2))
    )
    assert result["blessed"] == (metrics["rmse_vs_persistence"] <= 1.0)

import shutil

import numpy as np
import pytest
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import WINDOW_CONFIG_FILE
from components.common.io import read_json, write_json
from components.common.series import read_series
from components.common.serving import load_trained_model, resolve_version_dir
from components.common.tasks import FORECAST
from components.conftest import TINY_WINDOW
from components.export.export import run_export
from pipeline.cli import main


@pytest.fixture(scope="module")
def forecaster_dir(tmp_path_factory, sine_transformed, sine_model_dir):
    root = tmp_path_factory.mktemp("forecaster")
    run_export(FORECAST, sine_transformed["graph"], sine_model_dir, str(root))
    return resolve_version_dir(str(root))


def test_signature_takes_raw_windows_and_returns_the_forecast(forecaster_dir):
    serve = tf.saved_model.load(forecaster_dir).signatures[F.SERVING_SIGNATURE]
    (values,) = serve.structured_input_signature[1].values()
    assert values.name == F.SERVING_VALUES_KEY
    assert values.dtype == tf.float32 and values.shape.as_list() == [None, TINY_WINDOW.lookback]
    (forecast,) = serve.structured_outputs.values()
    assert list(serve.structured_outputs) == [F.SERVING_FORECAST_KEY]
    assert forecast.dtype == tf.float32 and forecast.shape.as_list() == [None]
    empty = serve(values=tf.zeros([0, TINY_WINDOW.lookback]))[F.SERVING_FORECAST_KEY]
    assert empty.shape == (0,)


def _served_without_the_pipeline_outputs(tmp_path, saved_model_dir, graph_dir, windows):
    """The forecasts of the SavedModel alone, with the transform graph moved away."""
    standalone = tmp_path / "standalone"
    shutil.copytree(saved_model_dir, standalone)
    moved = tmp_path / "graph-gone"
    shutil.move(graph_dir, moved)
    try:
        serve = tf.saved_model.load(str(standalone)).signatures[F.SERVING_SIGNATURE]
        return serve(values=tf.constant(windows, tf.float32))[F.SERVING_FORECAST_KEY].numpy()
    finally:
        shutil.move(moved, graph_dir)


def _raw_windows_and_train_values(ingested_dir: str) -> tuple[np.ndarray, np.ndarray]:
    series = read_series(ingested_dir)
    train = series.values[series.splits == "train"].astype(np.float64)
    windows = np.stack([series.values[i : i + TINY_WINDOW.lookback] for i in range(0, 300, 37)])
    return windows, train


def test_served_forecast_is_the_last_value_plus_the_predicted_change(
    tmp_path, forecaster_dir, sine_ingested_dir, sine_transformed, sine_model_dir
):
    assert TINY_WINDOW.forecast_target == "change"
    windows, train = _raw_windows_and_train_values(sine_ingested_dir)
    # By hand: the window relative to its last raw value, in units of the train period's
    # one-step changes; the model's output in those units, added to the last value.
    change_std = np.diff(train).std()
    last = windows[:, -1:]
    model = load_trained_model(sine_model_dir)
    change = model.predict((windows - last) / change_std, verbose=0).reshape(-1) * change_std
    expected = last[:, 0] + change
    served = _served_without_the_pipeline_outputs(
        tmp_path, forecaster_dir, sine_transformed["graph"], windows
    )
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-4)
    # The model forecasts a change, not a level: it is no plain persistence either.
    assert np.abs(change).max() > 1e-3


def test_a_level_forecaster_serves_scaling_model_and_unscaling(
    tmp_path, sine_ingested_dir, sine_transformed, sine_model_dir
):
    # The same graph told its model learned levels: the serving model reads the scaled window.
    graph = tmp_path / "level_graph"
    shutil.copytree(sine_transformed["graph"], graph)
    settings = read_json(f"{graph}/{WINDOW_CONFIG_FILE}")
    write_json(f"{graph}/{WINDOW_CONFIG_FILE}", {**settings, "forecast_target": "level"})
    exported = tmp_path / "exported"
    run_export(FORECAST, str(graph), sine_model_dir, str(exported))
    windows, train = _raw_windows_and_train_values(sine_ingested_dir)
    center, width = train.mean(), train.std()
    model = load_trained_model(sine_model_dir)
    scaled_forecast = model.predict((windows - center) / width, verbose=0).reshape(-1)
    expected = scaled_forecast * width + center
    served = _served_without_the_pipeline_outputs(
        tmp_path, resolve_version_dir(str(exported)), str(graph), windows
    )
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-4)


def test_predict_refuses_a_forecaster_in_one_line(forecaster_dir, capsys):
    assert main(["predict", "--model-dir", forecaster_dir, "a text"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"lstm-pipeline: error: --model-dir={forecaster_dir!r} is not allowed")
    assert "takes ['values']" in error

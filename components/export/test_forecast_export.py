import shutil

import numpy as np
import pytest
import tensorflow as tf

from components.common import features as F
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


def test_served_forecast_is_scaling_model_and_unscaling_in_process(
    tmp_path, forecaster_dir, sine_ingested_dir, sine_transformed, sine_model_dir
):
    series = read_series(sine_ingested_dir)
    train = series.values[series.splits == "train"].astype(np.float64)
    windows = np.stack([series.values[i : i + TINY_WINDOW.lookback] for i in range(0, 300, 37)])
    # The scaling by hand, with statistics of the train period, around the trained model.
    center, width = train.mean(), train.std()
    model = load_trained_model(sine_model_dir)
    scaled_forecast = model.predict((windows - center) / width, verbose=0).reshape(-1)
    expected = scaled_forecast * width + center

    # The SavedModel alone, with the pipeline outputs it was built from moved away.
    standalone = tmp_path / "standalone"
    shutil.copytree(forecaster_dir, standalone)
    moved = tmp_path / "graph-gone"
    shutil.move(sine_transformed["graph"], moved)
    try:
        serve = tf.saved_model.load(str(standalone)).signatures[F.SERVING_SIGNATURE]
        served = serve(values=tf.constant(windows, tf.float32))[F.SERVING_FORECAST_KEY].numpy()
    finally:
        shutil.move(moved, sine_transformed["graph"])
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-4)


def test_predict_refuses_a_forecaster_in_one_line(forecaster_dir, capsys):
    assert main(["predict", "--model-dir", forecaster_dir, "a text"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"lstm-pipeline: error: --model-dir={forecaster_dir!r} is not allowed")
    assert "takes ['values']" in error

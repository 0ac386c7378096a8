import keras
import pytest

from components.common.artifacts import HISTORY_FILE, MODEL_FILE, MODEL_INFO_FILE
from components.common.io import read_json
from components.conftest import TINY_FORECAST_TRAIN_CONFIG, TINY_WINDOW
from components.train.forecast import window_dataset
from components.train.models import build_forecaster


@pytest.mark.parametrize("model_type, total_params", [("lstm", 21_121), ("stacked-lstm", 54_145)])
def test_forecaster_reads_a_window_and_returns_one_value(model_type, total_params):
    model = build_forecaster(model_type, lookback=30, units=64, dense_units=64)
    assert model.count_params() == total_params
    assert model.input_shape == (None, 30) and model.output_shape == (None, 1)


def test_forecaster_is_early_stopped_on_eval_loss_and_keeps_the_best_epoch(
    sine_model_dir, sine_transformed
):
    history = read_json(f"{sine_model_dir}/{HISTORY_FILE}")
    info = read_json(f"{sine_model_dir}/{MODEL_INFO_FILE}")
    per_epoch = history["per_epoch"]
    assert history["monitor"] == "val_loss"
    assert set(per_epoch) == {"loss", "rmse", "val_loss", "val_rmse", "epoch_seconds"}
    assert info["task"] == "forecast" and info["window_config"]["lookback"] == TINY_WINDOW.lookback
    assert info["train_examples"] == 280 - TINY_WINDOW.lookback  # Train windows: 10 to 279.
    best = history["best_epoch"] - 1
    assert per_epoch["val_loss"][best] == min(per_epoch["val_loss"])
    # Learned: far below the scaled series' variance of about 1.
    assert min(per_epoch["val_loss"]) < 0.2

    model = keras.saving.load_model(f"{sine_model_dir}/{MODEL_FILE}")
    evaluation = window_dataset(sine_transformed["data"], "eval", TINY_WINDOW.lookback).batch(64)
    assert model.evaluate(evaluation, verbose=0)[0] == pytest.approx(
        per_epoch["val_loss"][best], rel=1e-5
    )
    assert TINY_FORECAST_TRAIN_CONFIG.epochs >= info["epochs_trained"]

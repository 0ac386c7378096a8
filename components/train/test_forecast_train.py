import keras
import numpy as np
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
    assert set(per_epoch) == {"loss", "rmse", "val_loss", "val_rmse", "epoch_seconds"}
    assert info["task"] == "forecast" and info["window_config"]["lookback"] == TINY_WINDOW.lookback
    assert info["train_examples"] == 280 - TINY_WINDOW.lookback  # Train windows: 10 to 279.
    # Early stopping fired on eval loss: training ended `patience` epochs after the eval loss
    # was lowest, well before the epochs allowed. Train loss, which this run's watcher would
    # follow if it watched the wrong metric, is lowest at another epoch.
    val_loss = per_epoch["val_loss"]
    best = history["best_epoch"] - 1
    assert best == val_loss.index(min(val_loss))
    assert info["epochs_trained"] == len(val_loss) == best + 1 + TINY_FORECAST_TRAIN_CONFIG.patience
    assert info["epochs_trained"] < TINY_FORECAST_TRAIN_CONFIG.epochs
    assert per_epoch["loss"].index(min(per_epoch["loss"])) != best
    # Learned: far below persistence's loss (a change of 0 predicted for every eval window).
    evaluation = window_dataset(sine_transformed["data"], "eval", TINY_WINDOW.lookback).batch(64)
    targets = np.concatenate([target.numpy().ravel() for _, target in evaluation])
    assert min(val_loss) < 0.2 * np.mean(targets**2)

    # The saved model carries the best epoch's weights, which the last epoch's do not match.
    assert abs(val_loss[-1] - val_loss[best]) > 1e-3 * val_loss[best]
    model = keras.saving.load_model(f"{sine_model_dir}/{MODEL_FILE}")
    assert model.evaluate(evaluation, verbose=0)[0] == pytest.approx(val_loss[best], rel=1e-5)

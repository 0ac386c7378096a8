import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.beam import tft_unit

from components.common import features as F
from components.common.artifacts import WINDOW_CONFIG_FILE, read_window_config
from components.common.beam import LOCAL_RUNNER
from components.common.config import FORECAST, ConfigError, WindowConfig
from components.common.io import read_json, tfrecord_files
from components.common.series import make_windows, read_series
from components.conftest import DATED_VALUES, TINY_WINDOW
from components.transform.forecast import RAW_SERIES_FEATURE_SPEC, train_change_std
from components.transform.forecast_preprocessing import make_forecast_preprocessing_fn
from components.transform.transform import run_transform

# Windows of 3 values forecasting 2 steps past the last: 5 points per window.
WINDOW = WindowConfig(lookback=3, horizon=2, scaling="zscore", forecast_target="level")


def test_make_windows_cuts_every_window_in_time_order():
    positions, histories, targets = make_windows(np.arange(10.0), lookback=3, horizon=2)
    assert positions.tolist() == [4, 5, 6, 7, 8, 9]
    assert histories.tolist()[0] == [0.0, 1.0, 2.0]  # Forecasting position 4 from 0, 1, 2.
    assert histories.tolist()[-1] == [5.0, 6.0, 7.0]
    assert targets.tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    positions, histories, targets = make_windows(np.arange(4.0), lookback=3, horizon=2)
    assert (len(positions), histories.shape, len(targets)) == (0, (0, 3), 0)


class ForecastPreprocessingFnTest(tft_unit.TransformTestCase):
    def _makeTestPipeline(self):
        # tft_unit's default DirectRunner would first try to download the Prism runner.
        return self._TestPipeline(runner=LOCAL_RUNNER)

    def test_minmax_scales_by_the_analyzed_range_and_carries_it(self):
        values = [2.0, 4.0, 6.0, 10.0]
        input_data = [{F.STEP_KEY: i, F.VALUE_KEY: v} for i, v in enumerate(values)]
        expected = [
            {
                F.STEP_KEY: i,
                F.SCALED_VALUE_KEY: (v - 2.0) / 8.0,
                F.SCALE_CENTER_KEY: 2.0,
                F.SCALE_WIDTH_KEY: 8.0,
                # One-step changes of std 3 in the series' units are 3 / 8 in scaled units.
                F.CHANGE_SCALE_KEY: 3.0 / 8.0,
            }
            for i, v in enumerate(values)
        ]
        self.assertAnalyzeAndTransformResults(
            input_data,
            tft.DatasetMetadata.from_feature_spec(RAW_SERIES_FEATURE_SPEC),
            make_forecast_preprocessing_fn("minmax", change_std=3.0),
            expected,
        )


@pytest.fixture(scope="module")
def dated_transformed(tmp_path_factory, dated_ingested_dir) -> dict[str, str]:
    root = tmp_path_factory.mktemp("dated_transformed")
    paths = {"graph": str(root / "graph"), "data": str(root / "data")}
    run_transform(FORECAST, WINDOW, dated_ingested_dir, paths["graph"], paths["data"])
    return paths


def read_windows(transformed_dir: str, split: str, lookback: int) -> dict[str, np.ndarray]:
    records = list(tf.data.TFRecordDataset(tfrecord_files(transformed_dir, split), "GZIP"))
    parsed = tf.io.parse_example(
        tf.stack(records),
        {
            F.HISTORY_KEY: tf.io.FixedLenFeature([lookback], tf.float32),
            F.TARGET_KEY: tf.io.FixedLenFeature([], tf.float32),
            F.STEP_KEY: tf.io.FixedLenFeature([], tf.int64),
        },
    )
    order = np.argsort(parsed[F.STEP_KEY].numpy())
    return {key: value.numpy()[order] for key, value in parsed.items()}


def test_scaling_statistics_come_from_the_train_period_only(dated_transformed):
    # The series rises, so its later periods would move both statistics if they were seen.
    train = np.array(DATED_VALUES[:14])
    scaled = tft.TFTransformOutput(dated_transformed["graph"]).transform_raw_features(
        {F.VALUE_KEY: tf.constant([0.0])}
    )
    center, width = scaled[F.SCALE_CENTER_KEY].numpy()[0], scaled[F.SCALE_WIDTH_KEY].numpy()[0]
    assert center == pytest.approx(train.mean()) and width == pytest.approx(train.std())
    assert center != pytest.approx(np.mean(DATED_VALUES))
    assert read_window_config(dated_transformed["graph"]) == WINDOW
    assert read_json(f"{dated_transformed['graph']}/{WINDOW_CONFIG_FILE}")["lookback"] == 3


def test_windows_belong_to_their_targets_period_and_never_read_ahead(dated_transformed):
    train = np.array(DATED_VALUES[:14])
    scaled = (np.array(DATED_VALUES) - train.mean()) / train.std()
    first_step = {"train": 4, "eval": 14, "test": 17}  # Steps 0-3 start the first window.
    last_step = {"train": 13, "eval": 16, "test": 19}
    for split in ("train", "eval", "test"):
        windows = read_windows(dated_transformed["data"], split, lookback=3)
        steps = windows[F.STEP_KEY]
        assert steps.tolist() == list(range(first_step[split], last_step[split] + 1))
        np.testing.assert_allclose(windows[F.TARGET_KEY], scaled[steps], rtol=1e-5)
        # Each history is the 3 values ending 2 steps before the target, so no train window
        # reads an eval or test value; eval and test windows may read earlier periods.
        expected_histories = np.stack([scaled[s - 4 : s - 1] for s in steps])
        np.testing.assert_allclose(windows[F.HISTORY_KEY], expected_histories, rtol=1e-5)
        if split == "train":
            assert steps.max() - 2 < first_step["eval"]


def test_change_windows_are_relative_to_their_last_value_in_units_of_train_changes(
    sine_ingested_dir, sine_transformed
):
    assert TINY_WINDOW.forecast_target == "change"
    series = read_series(sine_ingested_dir)
    train = series.values[series.splits == "train"].astype(np.float64)
    assert train_change_std(sine_ingested_dir) == pytest.approx(np.diff(train).std())
    # In the series' units: (value - last value read) / std of the train period's changes.
    change_std, lookback = np.diff(train).std(), TINY_WINDOW.lookback
    for split in ("train", "test"):
        windows = read_windows(sine_transformed["data"], split, lookback)
        steps = windows[F.STEP_KEY]
        last = series.values[steps - 1]
        histories = np.stack([series.values[s - lookback : s] for s in steps])
        np.testing.assert_allclose(
            windows[F.HISTORY_KEY], (histories - last[:, None]) / change_std, atol=1e-4
        )
        np.testing.assert_allclose(
            windows[F.TARGET_KEY], (series.values[steps] - last) / change_std, atol=1e-4
        )
        assert np.all(windows[F.HISTORY_KEY][:, -1] == 0)


def test_a_series_without_changes_keeps_its_units(dated_ingested_dir):
    # The dated series rises by exactly 1 a day: its changes have no spread to divide by.
    assert train_change_std(dated_ingested_dir) == 1.0


def test_a_window_longer_than_the_train_period_is_refused(tmp_path, dated_ingested_dir):
    window = WindowConfig(lookback=13, horizon=2)
    with pytest.raises(ConfigError, match="--lookback=13 is not allowed: .* the 14 of the train"):
        run_transform(
            FORECAST, window, dated_ingested_dir, str(tmp_path / "g"), str(tmp_path / "d")
        )

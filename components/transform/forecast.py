"""Transform for forecasting: scaling statistics from the train period with tf.Transform, then
every period scaled and cut into windows.

Outputs:
    transform_graph_dir/       tf.Transform output (scales a value and carries the unit of
                               changes; embedded in the exported model) and window_config.json
    transformed_dir/{split}/   tf.Examples, one per window: history [lookback] and target,
                               scaled (target "change": both relative to the history's last
                               value, in units of the train period's one-step changes), and
                               step (the target's)

A window belongs to the period of its target. Eval and test windows read the values before
their period as context, as a forecast made at that time could; no train window reads a value
after the train period, and no statistic sees one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict

import apache_beam as beam
import numpy as np
import tensorflow as tf

from components.common import features as F
from components.common.artifacts import WINDOW_CONFIG_FILE, read_counts
from components.common.config import ConfigError, WindowConfig
from components.common.examples import POINT_FEATURES, feature_spec
from components.common.io import EXAMPLES_SUFFIX, examples_prefix
from components.common.series import make_windows, read_series, relative_to_last
from components.transform.analyze import analyze_and_transform, transform_outputs
from components.transform.forecast_preprocessing import make_forecast_preprocessing_fn

logger = logging.getLogger(__name__)

# What the preprocessing_fn reads of a point.
RAW_SERIES_FEATURE_SPEC = feature_spec(POINT_FEATURES, (F.STEP_KEY, F.VALUE_KEY))


def _window_examples(points: list[tuple[int, float, float, str]], window: WindowConfig) -> Iterator:
    """(split, serialized window) for every window of the scaled series, split by its target.

    A point is (step, scaled value, change scale, split).
    """
    points = sorted(points)
    values = np.array([value for _, value, _, _ in points], np.float32)
    positions, histories, targets = make_windows(values, window.lookback, window.horizon)
    if window.forecast_target == "change" and len(points):
        histories, targets = relative_to_last(histories, targets, points[0][2])
    for position, history, target in zip(positions, histories, targets, strict=True):
        step, _, _, split = points[position]
        feature = {
            F.HISTORY_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=history)),
            F.TARGET_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[target])),
            F.STEP_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[step])),
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        yield split, example.SerializeToString()


def _point(transformed: dict, split: str) -> tuple[int, float, float, str]:
    return (
        int(transformed[F.STEP_KEY]),
        float(transformed[F.SCALED_VALUE_KEY]),
        float(transformed[F.CHANGE_SCALE_KEY]),
        split,
    )


def train_change_std(examples_dir: str) -> float:
    """The standard deviation of the train period's one-step changes, in the series' units.

    1 when it has none to measure or they are all equal, so dividing by it only keeps units.
    """
    series = read_series(examples_dir)
    changes = np.diff(series.values[series.splits == "train"].astype(np.float64))
    spread = float(changes.std()) if len(changes) else 0.0
    return spread if spread > 0 else 1.0


class WindowSeries(beam.PTransform):
    """Scaled points (step, value, change scale, split) of all periods to their windows, by
    split.

    The series goes through one worker as one list, as at ingest.
    """

    def __init__(self, window: WindowConfig):
        super().__init__()
        self._window = window

    def expand(self, points):
        windows = (
            points
            | "AllPoints" >> beam.combiners.ToList()
            | "Cut" >> beam.FlatMap(_window_examples, self._window)
        )
        by_split = windows | "BySplit" >> beam.Partition(
            lambda window, _: F.SPLITS.index(window[0]), len(F.SPLITS)
        )
        return {
            split: pcoll | f"Drop{split.title()}Tag" >> beam.Values()
            for split, pcoll in zip(F.SPLITS, by_split, strict=True)
        }


def run_forecast_transform(
    window: WindowConfig,
    examples_dir: str,
    transform_graph_dir: str,
    transformed_dir: str,
    beam_args: Sequence[str],
) -> None:
    """Fits the scaling on the train period and writes the transform graph and the windows."""
    train_points = read_counts(examples_dir)["written"]["train"]
    if train_points < window.lookback + window.horizon:
        raise ConfigError(
            f"--lookback={window.lookback} is not allowed: with --horizon {window.horizon} a "
            f"window spans {window.lookback + window.horizon} points, more than the "
            f"{train_points} of the train period"
        )
    change_std = train_change_std(examples_dir)
    outputs = transform_outputs(
        transform_graph_dir, transformed_dir, beam_args, WINDOW_CONFIG_FILE, asdict(window)
    )
    with outputs as (pipeline, graph_staging, data_staging):
        # The statistics see the train period and nothing after it.
        scaled = analyze_and_transform(
            pipeline,
            examples_dir,
            RAW_SERIES_FEATURE_SPEC,
            make_forecast_preprocessing_fn(window.scaling, change_std),
            graph_staging,
            output_record_batches=False,
        )
        points = [
            data | f"Points{split.title()}" >> beam.Map(_point, split)
            for split, (data, _) in scaled.items()
        ]
        windows = points | "AllPeriods" >> beam.Flatten() | "Window" >> WindowSeries(window)
        for split, examples in windows.items():
            _ = examples | f"Write{split.title()}" >> beam.io.WriteToTFRecord(
                examples_prefix(data_staging, split), file_name_suffix=EXAMPLES_SUFFIX
            )
    logger.info(
        "transform: %s scaling from %d train points (one-step changes: std %.4g), windows of %d "
        "values, %d step(s) ahead, target: %s",
        window.scaling,
        train_points,
        change_std,
        window.lookback,
        window.horizon,
        window.forecast_target,
    )

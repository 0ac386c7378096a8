"""Transform for forecasting: scaling statistics from the train period with tf.Transform, then
every period scaled and cut into windows.

Outputs:
    transform_graph_dir/       tf.Transform output (scales a value; embedded in the exported
                               model) and window_config.json
    transformed_dir/{split}/   tf.Examples, one per window: history [lookback] and target,
                               scaled, and step (the target's)

A window belongs to the period of its target. Eval and test windows read the values before
their period as context, as a forecast made at that time could; no train window reads a value
after the train period, and no statistic sees one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.io.filesystems import FileSystems
from tfx_bsl.public import tfxio

from components.common import features as F
from components.common.beam import pipeline_options
from components.common.config import ConfigError, WindowConfig
from components.common.io import (
    EXAMPLES_SUFFIX,
    atomic_directory,
    examples_pattern,
    examples_prefix,
    read_json,
    write_json,
)
from components.ingest.ingest import read_counts
from components.transform.forecast_preprocessing import make_forecast_preprocessing_fn, make_windows

logger = logging.getLogger(__name__)

RAW_SERIES_FEATURE_SPEC = {
    F.STEP_KEY: tf.io.FixedLenFeature([], tf.int64),
    F.VALUE_KEY: tf.io.FixedLenFeature([], tf.float32),
}
# Beside the tf.Transform output, so training, evaluation and export read the window it made.
WINDOW_CONFIG_FILE = "window_config.json"


def read_window_config(transform_graph_dir: str) -> WindowConfig:
    return WindowConfig(**read_json(f"{transform_graph_dir}/{WINDOW_CONFIG_FILE}"))


def _window_examples(points: list[tuple[int, float, str]], lookback: int, horizon: int) -> Iterator:
    """(split, serialized window) for every window of the scaled series, split by its target."""
    points = sorted(points)
    values = np.array([value for _, value, _ in points], np.float32)
    positions, histories, targets = make_windows(values, lookback, horizon)
    for position, history, target in zip(positions, histories, targets, strict=True):
        step, _, split = points[position]
        feature = {
            F.HISTORY_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=history)),
            F.TARGET_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[target])),
            F.STEP_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[step])),
        }
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        yield split, example.SerializeToString()


class WindowSeries(beam.PTransform):
    """Scaled points (step, value, split) of all periods to their windows, by split.

    The series goes through one worker as one list, as at ingest.
    """

    def __init__(self, lookback: int, horizon: int):
        super().__init__()
        self._lookback, self._horizon = lookback, horizon

    def expand(self, points):
        windows = (
            points
            | "AllPoints" >> beam.combiners.ToList()
            | "Cut" >> beam.FlatMap(_window_examples, self._lookback, self._horizon)
        )
        by_split = windows | "BySplit" >> beam.Partition(
            lambda window, _: F.SPLITS.index(window[0]), len(F.SPLITS)
        )
        return {
            split: pcoll | f"Drop{split.title()}Tag" >> beam.Values()
            for split, pcoll in zip(F.SPLITS, by_split, strict=True)
        }


def _scale_and_window(
    window: WindowConfig,
    examples_dir: str,
    transform_graph_dir: str,
    transformed_dir: str,
    beam_args,
) -> None:
    temp_dir = os.path.join(transform_graph_dir, ".tft-tmp")
    schema = tft.DatasetMetadata.from_feature_spec(RAW_SERIES_FEATURE_SPEC).schema
    with beam.Pipeline(options=pipeline_options(beam_args)) as pipeline:
        with tft_beam.Context(temp_dir=temp_dir):
            datasets = {}
            for split in F.SPLITS:
                source = tfxio.TFExampleRecord(
                    file_pattern=examples_pattern(examples_dir, split), schema=schema
                )
                datasets[split] = (
                    pipeline | f"Read{split.title()}" >> source.BeamSource(),
                    source.TensorAdapterConfig(),
                )
            # The statistics see the train period and nothing after it.
            transform_fn = datasets["train"] | "Analyze" >> tft_beam.AnalyzeDataset(
                make_forecast_preprocessing_fn(window.scaling)
            )
            _ = transform_fn | "WriteTransformGraph" >> tft_beam.WriteTransformFn(
                transform_graph_dir
            )
            points = []
            for split, dataset in datasets.items():
                scaled, _ = (dataset, transform_fn) | f"Transform{split.title()}" >> (
                    tft_beam.TransformDataset()
                )
                points.append(
                    scaled
                    | f"Points{split.title()}"
                    >> beam.Map(
                        lambda p, s=split: (int(p[F.STEP_KEY]), float(p[F.SCALED_VALUE_KEY]), s)
                    )
                )
            windows = (
                points
                | "AllPeriods" >> beam.Flatten()
                | "Window" >> WindowSeries(window.lookback, window.horizon)
            )
            for split, examples in windows.items():
                _ = examples | f"Write{split.title()}" >> beam.io.WriteToTFRecord(
                    examples_prefix(transformed_dir, split), file_name_suffix=EXAMPLES_SUFFIX
                )
    tf.io.gfile.rmtree(temp_dir)


def run_forecast_transform(
    window: WindowConfig,
    examples_dir: str,
    transform_graph_dir: str,
    transformed_dir: str,
    beam_args: Sequence[str] = (),
) -> None:
    """Fits the scaling on the train period and writes the transform graph and the windows."""
    train_points = read_counts(examples_dir)["written"]["train"]
    if train_points < window.lookback + window.horizon:
        raise ConfigError(
            f"--lookback={window.lookback} is not allowed: with --horizon {window.horizon} a "
            f"window spans {window.lookback + window.horizon} points, more than the "
            f"{train_points} of the train period"
        )
    with (
        atomic_directory(transform_graph_dir) as graph_staging,
        atomic_directory(transformed_dir) as data_staging,
    ):
        _scale_and_window(window, examples_dir, graph_staging, data_staging, beam_args)
        write_json(FileSystems.join(graph_staging, WINDOW_CONFIG_FILE), asdict(window))
    logger.info(
        "transform: %s scaling from %d train points, windows of %d values, %d step(s) ahead",
        window.scaling,
        train_points,
        window.lookback,
        window.horizon,
    )

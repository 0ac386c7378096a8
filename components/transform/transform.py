"""Transform: analyze the train split with tf.Transform, then transform train, eval and test.

Outputs:
    transform_graph_dir/       tf.Transform output (transform_fn/, transformed_metadata/), read by
                               training and embedded in the exported model
    transformed_dir/{split}/   tf.Examples: token_ids [max_seq_len], num_tokens, label

The forecast task scales and windows a series instead: see forecast.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.io.filesystems import FileSystems
from tfx_bsl.public import tfxio

from components.common import features as F
from components.common.beam import pipeline_options
from components.common.config import FORECAST, SENTIMENT, TransformConfig, WindowConfig
from components.common.io import (
    EXAMPLES_SUFFIX,
    atomic_directory,
    examples_pattern,
    examples_prefix,
    write_json,
)
from components.transform.preprocessing import VOCABULARY_NAME, make_preprocessing_fn

logger = logging.getLogger(__name__)

RAW_FEATURE_SPEC = {
    F.TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
    F.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
}
# Beside the tf.Transform output, so training and export read the settings it was made with.
TRANSFORM_CONFIG_FILE = "transform_config.json"


def raw_examples(examples_dir: str, split: str) -> tfxio.TFExampleRecord:
    return tfxio.TFExampleRecord(
        file_pattern=examples_pattern(examples_dir, split),
        schema=tft.DatasetMetadata.from_feature_spec(RAW_FEATURE_SPEC).schema,
    )


def _transform_with_beam(
    preprocessing_fn, examples_dir: str, transform_graph_dir: str, transformed_dir: str, beam_args
) -> None:
    temp_dir = os.path.join(transform_graph_dir, ".tft-tmp")
    with beam.Pipeline(options=pipeline_options(beam_args)) as pipeline:
        with tft_beam.Context(temp_dir=temp_dir):
            sources = {split: raw_examples(examples_dir, split) for split in F.SPLITS}
            datasets = {
                split: (
                    pipeline | f"Read{split.title()}" >> source.BeamSource(),
                    source.TensorAdapterConfig(),
                )
                for split, source in sources.items()
            }
            transform_fn = datasets["train"] | "Analyze" >> tft_beam.AnalyzeDataset(
                preprocessing_fn
            )
            _ = transform_fn | "WriteTransformGraph" >> tft_beam.WriteTransformFn(
                transform_graph_dir
            )
            for split, dataset in datasets.items():
                _ = (
                    (dataset, transform_fn)
                    | f"Transform{split.title()}"
                    >> tft_beam.TransformDataset(output_record_batches=True)
                    | f"Encode{split.title()}" >> tft_beam.EncodeTransformedDataset()
                    | f"Write{split.title()}"
                    >> beam.io.WriteToTFRecord(
                        examples_prefix(transformed_dir, split), file_name_suffix=EXAMPLES_SUFFIX
                    )
                )
    tf.io.gfile.rmtree(temp_dir)


def run_transform(
    config: TransformConfig,
    examples_dir: str,
    transform_graph_dir: str,
    transformed_dir: str,
    beam_args: Sequence[str] = (),
    task: str = SENTIMENT,
    window: WindowConfig = WindowConfig(),  # noqa: B008 - frozen
) -> None:
    """Fits the vocabulary on train and writes the transform graph and transformed splits.

    For the forecast task: the scaling and the windows of the series, as `window` says
    (forecast.py).
    """
    if task == FORECAST:
        from components.transform.forecast import run_forecast_transform

        return run_forecast_transform(
            window, examples_dir, transform_graph_dir, transformed_dir, beam_args
        )
    preprocessing_fn = make_preprocessing_fn(
        config.vocab_size, config.max_seq_len, config.punctuation
    )
    with (
        atomic_directory(transform_graph_dir) as graph_staging,
        atomic_directory(transformed_dir) as data_staging,
    ):
        _transform_with_beam(preprocessing_fn, examples_dir, graph_staging, data_staging, beam_args)
        write_json(FileSystems.join(graph_staging, TRANSFORM_CONFIG_FILE), asdict(config))
    logger.info(
        "transform: vocabulary of %d words + padding + OOV, sequences of %d ids",
        tft.TFTransformOutput(transform_graph_dir).vocabulary_size_by_name(VOCABULARY_NAME),
        config.max_seq_len,
    )

"""What transform does the same for every task: fit tf.Transform on train, transform each split.

The statistics (a vocabulary, a scaling) are analyzed on the train split (for sentiment, with
the unlabeled reviews where asked; never eval or test) and written as the transform graph,
which training reads and the exported model embeds; every split is then transformed with them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tfx_bsl.public import tfxio

from components.common import features as F
from components.common.beam import pipeline_options
from components.common.io import atomic_directory, examples_pattern, write_json


@contextlib.contextmanager
def transform_outputs(
    transform_graph_dir: str,
    transformed_dir: str,
    beam_args: Sequence[str],
    settings_file: str,
    settings: dict,
) -> Iterator[tuple[beam.Pipeline, str, str]]:
    """(a Beam pipeline for tf.Transform, the graph's staging folder, the transformed data's):
    the pipeline runs when the block ends, then `settings` are written beside the graph, and
    both outputs appear complete or not at all."""
    with (
        atomic_directory(transform_graph_dir) as graph_staging,
        atomic_directory(transformed_dir) as data_staging,
    ):
        # tf.Transform's scratch files are kept beside the graph until the pipeline has run.
        temp_dir = os.path.join(graph_staging, ".tft-tmp")
        with beam.Pipeline(options=pipeline_options(beam_args)) as pipeline:
            with tft_beam.Context(temp_dir=temp_dir):
                yield pipeline, graph_staging, data_staging
        tf.io.gfile.rmtree(temp_dir)
        write_json(os.path.join(graph_staging, settings_file), settings)


def analyze_and_transform(
    pipeline: beam.Pipeline,
    examples_dir: str,
    raw_feature_spec: dict,
    preprocessing_fn,
    transform_graph_dir: str,
    output_record_batches: bool,
    splits: Sequence[str] = F.SPLITS,
    analyzed_splits: Sequence[str] = ("train",),
) -> dict:
    """Reads each of `splits`, analyzes `analyzed_splits` together, writes the transform graph
    and returns each split transformed: split -> (transformed data, its metadata)."""
    schema = tft.DatasetMetadata.from_feature_spec(raw_feature_spec).schema

    def read(split: str, label: str):
        source = tfxio.TFExampleRecord(
            file_pattern=examples_pattern(examples_dir, split), schema=schema
        )
        return pipeline | label >> source.BeamSource(), source.TensorAdapterConfig()

    datasets = {split: read(split, f"Read{split.title()}") for split in splits}
    # An analyzed split is read a second time for the analysis: one read feeding both would be
    # held whole in memory on the local runner until the analysis ends and transforming starts.
    analyzed = [read(split, f"Read{split.title()}ToAnalyze")[0] for split in analyzed_splits]
    adapter_config = datasets[analyzed_splits[0]][1]
    transform_fn = (
        analyzed | "AnalyzedSplits" >> beam.Flatten(),
        adapter_config,
    ) | "Analyze" >> tft_beam.AnalyzeDataset(preprocessing_fn)
    _ = transform_fn | "WriteTransformGraph" >> tft_beam.WriteTransformFn(transform_graph_dir)
    return {
        split: (dataset, transform_fn)
        | f"Transform{split.title()}"
        >> tft_beam.TransformDataset(output_record_batches=output_record_batches)
        for split, dataset in datasets.items()
    }

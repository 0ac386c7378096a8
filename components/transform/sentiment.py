"""Transform for sentiment: a vocabulary fitted on the train reviews (and, with --vocabulary-text
train+unlabeled, the unlabeled ones), every split to id sequences.

Outputs:
    transform_graph_dir/       tf.Transform output (transform_fn/, transformed_metadata/), read by
                               training and embedded in the exported model, and
                               transform_config.json
    transformed_dir/{split}/   tf.Examples: token_ids [max_seq_len], num_tokens, label, for
                               train, eval, test and unlabeled (label NO_LABEL; empty unless
                               ingest read unlabeled reviews)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict

import apache_beam as beam
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

from components.common import features as F
from components.common.artifacts import TRANSFORM_CONFIG_FILE
from components.common.config import TransformConfig, text_splits
from components.common.examples import REVIEW_FEATURES, feature_spec
from components.common.io import EXAMPLES_SUFFIX, examples_prefix
from components.transform.analyze import analyze_and_transform, transform_outputs
from components.transform.preprocessing import VOCABULARY_NAME, make_preprocessing_fn

logger = logging.getLogger(__name__)

# What the preprocessing_fn reads of a review.
RAW_FEATURE_SPEC = feature_spec(REVIEW_FEATURES, (F.TEXT_KEY, F.LABEL_KEY))


def run_sentiment_transform(
    config: TransformConfig,
    examples_dir: str,
    transform_graph_dir: str,
    transformed_dir: str,
    beam_args: Sequence[str],
) -> None:
    """Fits the vocabulary on train and writes the transform graph and transformed splits."""
    preprocessing_fn = make_preprocessing_fn(
        config.vocab_size, config.max_seq_len, config.punctuation
    )
    outputs = transform_outputs(
        transform_graph_dir, transformed_dir, beam_args, TRANSFORM_CONFIG_FILE, asdict(config)
    )
    with outputs as (pipeline, graph_staging, data_staging):
        transformed = analyze_and_transform(
            pipeline,
            examples_dir,
            RAW_FEATURE_SPEC,
            preprocessing_fn,
            graph_staging,
            output_record_batches=True,
            splits=F.REVIEW_SPLITS,
            analyzed_splits=text_splits(config.vocabulary_text),
        )
        for split, dataset in transformed.items():
            _ = (
                dataset
                | f"Encode{split.title()}" >> tft_beam.EncodeTransformedDataset()
                | f"Write{split.title()}"
                >> beam.io.WriteToTFRecord(
                    examples_prefix(data_staging, split), file_name_suffix=EXAMPLES_SUFFIX
                )
            )
    logger.info(
        "transform: vocabulary of %d words + padding + OOV, sequences of %d ids",
        tft.TFTransformOutput(transform_graph_dir).vocabulary_size_by_name(VOCABULARY_NAME),
        config.max_seq_len,
    )


def vocabulary_figures(transform_graph_dir: str) -> dict:
    """What the console shows of a finished transform: the vocabulary's size in words."""
    graph = tft.TFTransformOutput(transform_graph_dir)
    return {"vocabulary_size": graph.vocabulary_size_by_name(VOCABULARY_NAME)}

"""The raw tf.Examples ingest writes, one kind per task: their features, and how to read them.

Transform, evaluate and the baseline read these; each feature's type is defined here once.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from components.common import features as F
from components.common.io import tfrecord_files

# A review: its text, label (0/1), id in the source and IMDB star rating (0: none).
REVIEW_FEATURES = {
    F.TEXT_KEY: tf.string,
    F.LABEL_KEY: tf.int64,
    F.ID_KEY: tf.string,
    F.RATING_KEY: tf.int64,
}
# A point of a series: its step in time order, date (ISO 8601; empty for a sine) and value.
POINT_FEATURES = {F.STEP_KEY: tf.int64, F.DATE_KEY: tf.string, F.VALUE_KEY: tf.float32}


def feature_spec(feature_types: Mapping, keys=None) -> dict[str, tf.io.FixedLenFeature]:
    """The parse spec of scalar features (all, or those named in `keys`)."""
    return {
        key: tf.io.FixedLenFeature([], dtype)
        for key, dtype in feature_types.items()
        if keys is None or key in keys
    }


def to_tf_example(values: Mapping, feature_types: Mapping) -> bytes:
    """The serialized tf.Example of the scalar `values` of the features in `feature_types`."""
    feature = {}
    for key, dtype in feature_types.items():
        value = values[key]
        if dtype == tf.string:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif dtype == tf.int64:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def raw_example_batches(
    examples_dir: str, split: str, batch_size: int, feature_types: Mapping
) -> tf.data.Dataset:
    """Batches of one split written by ingest, as dicts of its features."""
    spec = feature_spec(feature_types)
    return (
        tf.data.TFRecordDataset(tfrecord_files(examples_dir, split), compression_type="GZIP")
        .batch(batch_size)
        .map(lambda records: tf.io.parse_example(records, spec))
    )

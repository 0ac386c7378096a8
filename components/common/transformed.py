"""Transform's outputs as the steps after it read them.

For sentiment the feature spec and the sequence length come from the tf.Transform graph
itself, the one source of truth: nothing restates them. A forecast's windows are cut after
tf.Transform scaled the points, so their spec follows from the window config beside the graph.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.common import features as F


def transformed_feature_spec(transform_graph_dir: str) -> dict:
    """The parse spec of the tf.Examples that the transform graph wrote."""
    return tft.TFTransformOutput(transform_graph_dir).transformed_feature_spec()


def sequence_length(transform_graph_dir: str) -> int:
    """Ids per review in the transformed examples (--max-seq-len when they were made)."""
    return int(transformed_feature_spec(transform_graph_dir)[F.TOKEN_IDS_KEY].shape[0])


def window_feature_spec(lookback: int) -> dict:
    """The parse spec of the windows transform wrote for a forecast."""
    return {
        F.HISTORY_KEY: tf.io.FixedLenFeature([lookback], tf.float32),
        F.TARGET_KEY: tf.io.FixedLenFeature([], tf.float32),
        F.STEP_KEY: tf.io.FixedLenFeature([], tf.int64),
    }

"""Small file helpers over tf.io.gfile, so paths may be local or object-store URIs."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import tensorflow as tf


def write_json(path: str, value: Any) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)


def read_json(path: str) -> Any:
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


# Ingest and transform both write each split as gzipped TFRecord shards of tf.Examples.
EXAMPLES_SUFFIX = ".tfrecord.gz"


def examples_prefix(directory: str, split: str) -> str:
    """The shard prefix to give Beam's WriteToTFRecord for one split."""
    return f"{directory}/{split}/examples"


def examples_pattern(directory: str, split: str) -> str:
    return f"{examples_prefix(directory, split)}-*{EXAMPLES_SUFFIX}"


def tfrecord_files(directory: str, split: str) -> list[str]:
    """The shards of one split written by ingest or transform."""
    files = sorted(tf.io.gfile.glob(examples_pattern(directory, split)))
    if not files:
        raise FileNotFoundError(f"no {split} examples under {directory}")
    return files


# The sibling an unfinished output is written into (see atomic_directory).
INCOMPLETE_SUFFIX = ".incomplete"


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yields a temporary sibling of `path` to write into, moved to `path` only on success.

    A step killed midway leaves only the `.incomplete` sibling, which the next attempt clears,
    so no later step can read a half-written output.
    """
    path = path.rstrip("/")
    incomplete = f"{path}{INCOMPLETE_SUFFIX}"
    if tf.io.gfile.exists(incomplete):
        tf.io.gfile.rmtree(incomplete)
    tf.io.gfile.makedirs(incomplete)
    try:
        yield incomplete
    except BaseException:
        tf.io.gfile.rmtree(incomplete)
        raise
    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)
    tf.io.gfile.rename(incomplete, path)


def copy_tree(source: str, destination: str) -> None:
    """Copies every file below `source` to the same place below `destination`."""
    for root, _, files in tf.io.gfile.walk(source):
        target_root = destination + root[len(source) :]
        tf.io.gfile.makedirs(target_root)
        for name in files:
            tf.io.gfile.copy(f"{root}/{name}", f"{target_root}/{name}", overwrite=True)

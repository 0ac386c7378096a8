"""Reuse of finished step outputs when a local run is repeated with unchanged inputs.

kfp.local has no usable cache of its own (it re-runs tasks that consume upstream artifacts), so
each component checks this one when the pipeline gives it a cache folder; on a cluster the folder
is empty and KFP's own caching applies. A step's key covers its name, its parameters and the
keys of the artifacts it reads (each output carries its key in KEY_FILE), so a change anywhere
upstream changes every key below it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence

import tensorflow as tf

from components.common.io import copy_tree

logger = logging.getLogger(__name__)

KEY_FILE = ".step_key"
# In an exported version folder: the candidate_key of what it was made from.
CANDIDATE_KEY_FILE = ".candidate_key"
_COMPLETE = "COMPLETE"


def _read_key(artifact_dir: str) -> str:
    path = f"{artifact_dir}/{KEY_FILE}"
    # An input made outside the pipeline has no key: fall back to its path, which never matches
    # a cached entry made from different data unless the path is the same.
    return tf.io.gfile.GFile(path).read() if tf.io.gfile.exists(path) else artifact_dir


def step_key(step: str, params: Mapping, input_dirs: Sequence[str]) -> str:
    """A key that changes when the step, a parameter or any input artifact changes."""
    material = {"step": step, "params": params, "inputs": [_read_key(d) for d in input_dirs]}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:20]


def candidate_key(transform_graph_dir: str, model_dir: str) -> str:
    """What identifies a serving model: the transform graph and trained model it is made of.

    Export writes it into each version folder, so evaluate and export can tell that the model
    a destination serves is the very candidate at hand (and not beat it, or push it, again).
    """
    return step_key("candidate", {}, [transform_graph_dir, model_dir])


def read_candidate_key(version_dir: str) -> str:
    """The candidate_key an export wrote into `version_dir`; empty for other models."""
    path = f"{version_dir}/{CANDIDATE_KEY_FILE}"
    return tf.io.gfile.GFile(path).read() if tf.io.gfile.exists(path) else ""


def file_fingerprint(path: str) -> list:
    """Names, sizes and modification times of a file or of every file below a folder."""
    if not tf.io.gfile.isdir(path):
        stat = tf.io.gfile.stat(path)
        return [[path, stat.length, stat.mtime_nsec]]
    entries = []
    for root, _, files in sorted(tf.io.gfile.walk(path)):
        for name in sorted(files):
            stat = tf.io.gfile.stat(f"{root}/{name}")
            entries.append([f"{root}/{name}", stat.length, stat.mtime_nsec])
    return entries


def _replace(source: str, destination: str) -> None:
    if tf.io.gfile.exists(destination):
        tf.io.gfile.rmtree(destination)
    copy_tree(source, destination)


def run_cached(
    step: str,
    key: str,
    outputs: Mapping[str, str],
    cache_dir: str,
    compute: Callable[[], object],
) -> bool:
    """Fills `outputs` (name -> folder) from the cache or by `compute()`; True when reused."""
    entry = f"{cache_dir}/{step}-{key}" if cache_dir else ""
    if entry and tf.io.gfile.exists(f"{entry}/{_COMPLETE}"):
        for name, path in outputs.items():
            _replace(f"{entry}/{name}", path)
        logger.info(
            "%s: reused the outputs of an earlier run with the same inputs (%s)", step, entry
        )
        return True
    compute()
    for path in outputs.values():
        with tf.io.gfile.GFile(f"{path}/{KEY_FILE}", "w") as f:
            f.write(key)
    if entry:
        for name, path in outputs.items():
            _replace(path, f"{entry}/{name}")
        with tf.io.gfile.GFile(f"{entry}/{_COMPLETE}", "w") as f:
            f.write(key)  # GFile creates nothing for an empty write.
    return False

"""Small file helpers, so paths may be local or object-store URIs.

Local and gs:// paths go through tf.io.gfile. s3:// paths go through s3fs: TensorFlow has had no
S3 filesystem of its own since 2.6, and tensorflow-io's last release (0.37.1, built for
TensorFlow 2.16) does not load with TensorFlow 2.21 (its plugins miss symbols). s3fs, boto3 and
Beam's S3 filesystem take the endpoint and keys from the environment (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), which the compiled pipeline sets from
`--s3-endpoint` and `--s3-credentials-secret`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import s3fs
import tensorflow as tf

S3_SCHEME = "s3://"


def is_s3(path: str) -> bool:
    return path.startswith(S3_SCHEME)


def _s3() -> s3fs.S3FileSystem:
    # No listings cache: other processes (the next step, a serving push) change the store.
    return s3fs.S3FileSystem(use_listings_cache=False)


def open_file(path: str, mode: str = "r") -> IO:
    return _s3().open(path, mode) if is_s3(path) else tf.io.gfile.GFile(path, mode)


def exists(path: str) -> bool:
    return _s3().exists(path) if is_s3(path) else tf.io.gfile.exists(path)


def isdir(path: str) -> bool:
    return _s3().isdir(path) if is_s3(path) else tf.io.gfile.isdir(path)


def listdir(path: str) -> list[str]:
    """The names (not paths) of the entries of a folder."""
    if is_s3(path):
        return [entry.rstrip("/").rsplit("/", 1)[-1] for entry in _s3().ls(path, detail=False)]
    return [name.rstrip("/") for name in tf.io.gfile.listdir(path)]


def glob(pattern: str) -> list[str]:
    if is_s3(pattern):
        return [S3_SCHEME + match for match in _s3().glob(pattern)]
    return tf.io.gfile.glob(pattern)


def makedirs(path: str) -> None:
    if not is_s3(path):  # An object store has no folders, only keys.
        tf.io.gfile.makedirs(path)


def rmtree(path: str) -> None:
    """Removes a folder and everything below it."""
    if is_s3(path):
        if _s3().exists(path):
            _s3().rm(path, recursive=True)
    else:
        tf.io.gfile.rmtree(path)


def rename(source: str, destination: str) -> None:
    """Moves a file, replacing `destination` (in an object store: a copy, then a delete)."""
    if is_s3(source):
        _s3().mv(source, destination)
    else:
        tf.io.gfile.rename(source, destination, overwrite=True)


def remove(path: str) -> None:
    if is_s3(path):
        _s3().rm_file(path)
    else:
        tf.io.gfile.remove(path)


def files_below(directory: str) -> list[str]:
    """The paths of every file below `directory`, each folder's own files after its
    subfolders': a reader that lists a destination while it is being filled finds a SavedModel's
    saved_model.pb only once its variables are there."""
    directory = directory.rstrip("/")
    if is_s3(directory):
        found = [S3_SCHEME + path for path in _s3().find(directory)]
    else:
        found = [
            f"{root.rstrip('/')}/{name}"
            for root, _, names in tf.io.gfile.walk(directory)
            for name in names
        ]
    return sorted(found, key=lambda path: (-path.count("/"), path))


def file_versions(path: str) -> list[list]:
    """[path, size, version] of a file or of every file below a folder, by path; the version is
    the modification time, or an object's ETag in an object store."""
    if is_s3(path):
        fs = _s3()
        found = fs.find(path, detail=True) if fs.isdir(path) else {path: fs.info(path)}
        return sorted(
            [S3_SCHEME + info["name"], info["size"], info["ETag"]] for info in found.values()
        )
    if not tf.io.gfile.isdir(path):
        stat = tf.io.gfile.stat(path)
        return [[path, stat.length, stat.mtime_nsec]]
    entries = []
    for root, _, files in sorted(tf.io.gfile.walk(path)):
        for name in sorted(files):
            stat = tf.io.gfile.stat(f"{root}/{name}")
            entries.append([f"{root}/{name}", stat.length, stat.mtime_nsec])
    return entries


def copy_tree(source: str, destination: str) -> None:
    """Copies every file below `source` to the same place below `destination`, between any
    two of local folders, gs:// and s3://."""
    source, destination = source.rstrip("/"), destination.rstrip("/")
    for path in files_below(source):
        target = destination + path[len(source) :]
        makedirs(target.rsplit("/", 1)[0])
        with open_file(path, "rb") as reader, open_file(target, "wb") as writer:
            shutil.copyfileobj(reader, writer)


@contextlib.contextmanager
def local_file(path: str, mode: str) -> Iterator[str]:
    """A local path standing for the file `path`, for libraries that read ("r") or write ("w")
    only what TensorFlow can (Keras' saving): `path` itself, or for s3:// a temporary file of the
    same name, copied down before reading or up after writing."""
    if not is_s3(path):
        yield path
        return
    with tempfile.TemporaryDirectory() as scratch:
        local = f"{scratch}/{path.rsplit('/', 1)[-1]}"
        if mode == "r":
            _s3().get_file(path, local)
        yield local
        if mode == "w":
            _s3().put_file(local, path)


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """Yields a local folder holding what the folder `path` holds: `path` itself unless it is in
    an object store TensorFlow cannot read (s3://), else a temporary copy."""
    if not is_s3(path):
        yield path
        return
    with tempfile.TemporaryDirectory() as scratch:
        copy_tree(path, scratch)
        yield scratch


def write_json(path: str, value: Any) -> None:
    with open_file(path, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)


def read_json(path: str) -> Any:
    with open_file(path) as f:
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
    """Yields a temporary place to write a folder into, which becomes `path` only on success.

    Locally (and on gs://) it is the `.incomplete` sibling of `path`, renamed at the end; a step
    killed midway leaves only that sibling, which the next attempt clears, so no later step can
    read a half-written output. An object store has no rename: the folder is written locally
    and copied to `path` at the end (files_below says in which order).
    """
    path = path.rstrip("/")
    if is_s3(path):
        with tempfile.TemporaryDirectory() as staging:
            yield staging
            rmtree(path)
            copy_tree(staging, path)
        return
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

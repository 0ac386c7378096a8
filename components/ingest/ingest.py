"""Ingest: read labeled reviews from a source and write train/eval/test tf.Examples with Beam.

Output layout under `output_dir`:
    {train,eval,test}/examples-*.tfrecord.gz   tf.Examples: text, label (0/1), id, rating
    quarantine/records-*.jsonl                 records set aside: source, position, id, reason
    counts.json                                records read, written per split, quarantined per
                                               reason, and left out by --max-examples

The forecast task reads a time series instead: see timeseries.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tarfile
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components.common import features as F
from components.common.beam import pipeline_options
from components.common.config import (
    FORECAST,
    SENTIMENT,
    ConfigError,
    IngestConfig,
    SeriesConfig,
    Source,
    check_source_for_task,
)
from components.common.io import EXAMPLES_SUFFIX, atomic_directory, examples_prefix
from components.common.step_cache import file_fingerprint
from components.ingest.records import HeaderError, check_columns, read_csv, read_jsonl

logger = logging.getLogger(__name__)

COUNTS_FILE = "counts.json"
QUARANTINE_DIR = "quarantine"

_POSITIVE = {"1", "pos", "positive", "true"}
_NEGATIVE = {"0", "neg", "negative", "false"}
# aclImdb/<split>/<pos|neg>/<id>_<rating>.txt
_ACLIMDB_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_REVIEW_MEMBER = re.compile(r"/(train|test)/(pos|neg)/[^/]+\.txt$")


class IngestError(RuntimeError):
    """The source cannot be read into usable splits."""


def stable_fraction(key: str, salt: str) -> float:
    """A deterministic pseudo-random number in [0, 1) for `key`, independent per `salt`."""
    digest = hashlib.sha256(f"{salt}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _record(
    text: Any,
    label: Any,
    split: Any,
    position: str,
    rid: str = "",
    rating: int = 0,
    reason: str = "",
    detail: str = "",
):
    """A raw record; `reason` and `detail` set when the source already rejected it."""
    return {
        F.TEXT_KEY: text,
        F.LABEL_KEY: label,
        "split": split,
        "position": position,
        F.ID_KEY: rid or position,
        F.RATING_KEY: rating,
        "reason": reason,
        "detail": detail,
    }


def _rejected(position: str, reason: str, detail: str, split: Any = None) -> dict:
    return _record(None, None, split, position, reason=reason, detail=detail)


def record_id(value: Any, position: str) -> str:
    """A record's id as text: its own id field (0 and false are ids too), else its position."""
    if value is None or value == "":
        return position
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def parse_label(value: Any) -> int | None:
    """0 or 1 for the label spellings we accept, None for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower() if value is not None else ""
    if text in _POSITIVE:
        return 1
    if text in _NEGATIVE:
        return 0
    return None


_JSON_KINDS = {bool: "true or false", int: "a number", float: "a number", list: "an array"}


def validate(record: dict, max_text_bytes: int) -> tuple[dict | None, str, str]:
    """A raw record as an accepted example, or None with the reason and a one-line detail.

    Text is bytes (files, tfds), a string (csv, jsonl), or whatever a JSON value holds.
    """
    if record.get("reason"):
        return None, record["reason"], record.get("detail", "")
    text = record[F.TEXT_KEY]
    if text is None:
        return None, "missing_text", "no text: the field is absent or null"
    if not isinstance(text, str | bytes):
        kind = _JSON_KINDS.get(type(text), "an object")
        return None, "text_not_a_string", f"the text is {kind}, not a string"
    if isinstance(text, str):
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as error:
            where = f"character {error.start + 1}"
            return None, "invalid_unicode", f"a lone surrogate at {where} names no character"
    else:
        size = len(text)
    if size > max_text_bytes:
        return None, "text_too_long", f"{size:,} bytes, above --max-text-bytes {max_text_bytes:,}"
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            byte = text[error.start]
            return None, "not_utf8", f"byte {byte:#04x} at byte {error.start + 1} is not UTF-8"
    if not text.strip():
        return None, "empty_text", "the text is empty or only whitespace"
    label = parse_label(record[F.LABEL_KEY])
    if label is None:
        allowed = "0/1, neg/pos, negative/positive or false/true"
        return None, "unknown_label", f"{_shown(record[F.LABEL_KEY])} is not one of {allowed}"
    if record["split"] not in F.SOURCE_SPLITS:
        return None, "unknown_split", f"{_shown(record['split'])} is not train or test"
    example = dict(record, **{F.TEXT_KEY: text, F.LABEL_KEY: label})
    return example, "", ""


def _shown(value: Any) -> str:
    """A value for a detail: its repr, short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def quarantine_line(source_spec: str, record: dict, reason: str, detail: str = "") -> dict:
    """What the quarantine keeps of a set-aside record: enough to find and judge it."""
    return {
        "source": source_spec,
        "position": record["position"],
        "id": record[F.ID_KEY],
        "reason": reason,
        "detail": detail,
        "label": repr(record[F.LABEL_KEY])[:100],
        "split": repr(record["split"])[:100],
    }


QUARANTINE = "quarantine"


class ValidateRecords(beam.DoFn):
    """Emits accepted examples on the main output and quarantine lines on QUARANTINE."""

    def __init__(self, source_spec: str, max_text_bytes: int):
        self._source_spec, self._max_text_bytes = source_spec, max_text_bytes

    def process(self, record: dict) -> Iterator:
        example, reason, detail = validate(record, self._max_text_bytes)
        if example is not None:
            yield example
        else:
            yield beam.pvalue.TaggedOutput(
                QUARANTINE, quarantine_line(self._source_spec, record, reason, detail)
            )


def position_order(position: str) -> tuple:
    """A sort key putting `path:line` (or `path:first-last`) positions in file order."""
    path, _, lines = position.rpartition(":")
    first = lines.partition("-")[0]
    return (path, int(first)) if first.isdigit() else (position, 0)


class DropDuplicateIds(beam.PTransform):
    """Keeps the first record (by position) of each id; quarantines the others."""

    def __init__(self, source_spec: str):
        super().__init__()
        self._source_spec = source_spec

    def expand(self, examples):
        return (
            examples
            | "ById" >> beam.Map(lambda example: (example[F.ID_KEY], example))
            | "GroupById" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(self._keep_first).with_outputs(QUARANTINE, main="unique")
        )

    def _keep_first(self, id_and_examples):
        first, *duplicates = sorted(id_and_examples[1], key=lambda e: position_order(e["position"]))
        yield first
        for duplicate in duplicates:
            detail = f"the id {_shown(duplicate[F.ID_KEY])} is first at {first['position']}"
            yield beam.pvalue.TaggedOutput(
                QUARANTINE,
                quarantine_line(self._source_spec, duplicate, "duplicate_id", detail),
            )


# ---- Sources: each is a PTransform from the pipeline root to raw records with a `split`. ----


class ReadTfds(beam.PTransform):
    """Both splits of a tensorflow-datasets dataset; downloads it first where it is missing."""

    def __init__(self, name: str, data_dir: str, text_field: str, label_field: str):
        super().__init__()
        self._name, self._data_dir = name, data_dir or None
        self._text_field, self._label_field = text_field, label_field

    def expand(self, root):
        import tensorflow_datasets as tfds

        try:
            builder = tfds.builder(self._name, data_dir=self._data_dir)
        except tfds.core.registered.DatasetNotFoundError as error:
            raise IngestError(f"unknown tensorflow-datasets dataset {self._name!r}") from error
        if not builder.is_prepared():
            builder.download_and_prepare()
        read_config = tfds.ReadConfig(add_tfds_id=True)
        splits = []
        for split in F.SOURCE_SPLITS:
            splits.append(
                root
                | f"Read{split.title()}"
                >> tfds.beam.ReadFromTFDS(builder, split, read_config=read_config)
                | f"ToRecords{split.title()}" >> beam.Map(self._to_record, split)
            )
        return splits | beam.Flatten()

    def _to_record(self, example, split: str) -> dict:
        example = {key: value.numpy() for key, value in example.items()}
        tfds_id = example["tfds_id"].decode()
        return _record(
            example.get(self._text_field), example.get(self._label_field), split, tfds_id
        )


def _aclimdb_record(path: str, content: bytes) -> dict:
    match = _ACLIMDB_PATH.search(path.replace(os.sep, "/"))
    if match is None:
        return _record(content, None, None, path)
    split, polarity, review_id, rating = match.groups()
    return _record(content, polarity, split, path, f"{split}/{polarity}/{review_id}", int(rating))


def _read_aclimdb_tar(path: str) -> Iterator[dict]:
    # Streamed: a .tar.gz cannot be split, and the whole archive need not sit in memory.
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        with tarfile.open(fileobj=raw, mode="r|gz") as archive:
            for member in archive:
                if not _REVIEW_MEMBER.search(member.name):
                    continue
                if member.issym() or member.islnk():
                    # A stream cannot go back for a link's target; counted, never followed.
                    kind = "symbolic" if member.issym() else "hard"
                    detail = f"a {kind} link to {member.linkname!r}; links are not followed"
                    yield _rejected(member.name, "link", detail)
                elif member.isfile():
                    yield _aclimdb_record(member.name, archive.extractfile(member).read())


def aclimdb_files(folder: str) -> list[str]:
    """The review files of an aclImdb folder, `<split>/<pos|neg>/*.txt`, listed without glob
    patterns (a folder name with `[` or `*` is a name)."""
    files = []
    for split in F.SOURCE_SPLITS:
        for polarity in ("pos", "neg"):
            labeled = f"{folder.rstrip('/')}/{split}/{polarity}"
            if tf.io.gfile.isdir(labeled):
                names = sorted(tf.io.gfile.listdir(labeled))
                files += [f"{labeled}/{name}" for name in names if name.endswith(".txt")]
    return files


def _read_aclimdb_file(path: str, folder: str) -> dict:
    if os.path.islink(path):
        target = os.path.realpath(path)
        if os.path.commonpath([target, os.path.realpath(folder)]) != os.path.realpath(folder):
            detail = f"a link to {target}, outside the source folder; not followed"
            return _rejected(path, "link", detail)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return _aclimdb_record(path, f.read())


class ReadAclImdb(beam.PTransform):
    """Stanford's `aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`, as a directory or .tar.gz."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, root):
        if self._path.endswith((".tar.gz", ".tgz")):
            return (
                root | "ArchivePath" >> beam.Create([self._path]) | beam.FlatMap(_read_aclimdb_tar)
            )
        return (
            root
            | "ReviewFiles" >> beam.Create(aclimdb_files(self._path))
            | "ReadReviews" >> beam.Map(_read_aclimdb_file, self._path)
        )


def delimited_files(kind: str, location: str) -> list[tuple[str, str | None]]:
    """(path, split or None) of each csv or jsonl file of a source: the file itself (its
    records name their split), or a folder's `train*` and `test*` files, listed without glob
    patterns (a name with `[` or `*` is a name)."""
    if not tf.io.gfile.isdir(location):
        return [(location, None)]
    names = sorted(tf.io.gfile.listdir(location))
    return [
        (f"{location.rstrip('/')}/{name}", split)
        for split in F.SOURCE_SPLITS
        for name in names
        if name.startswith(split) and name.endswith(f".{kind}")
    ]


def check_delimited_headers(config: IngestConfig) -> dict[str, list[str]]:
    """Checks each csv file's header before any work; returns the columns ingest does not read,
    per file (reported, not an error).

    Raises:
        ConfigError: a header is missing or broken, names a column twice, or lacks a column
            an option names (the text, the label, and the split for a single file).
    """
    source = config.parsed_source
    not_read = {}
    if source.kind != "csv":
        return not_read
    for path, split in delimited_files("csv", source.location):
        try:
            with FileSystems.open(path) as f:
                columns, _ = read_csv(f, path)
            needed = {"--text-field": config.text_field, "--label-field": config.label_field}
            if split is None:
                needed["--split-field"] = config.split_field
            check_columns(columns, path, needed)
        except HeaderError as error:
            raise ConfigError(f"--source={config.source!r} is not allowed: {error}") from None
        used = {*needed.values(), F.ID_KEY}
        unused = [column for column in columns if column not in used]
        if unused:
            not_read[path] = unused
            logger.warning("ingest: %s: columns not read: %s", path, ", ".join(unused))
    return not_read


def _delimited_records(file: tuple[str, str | None], kind: str, config: IngestConfig):
    path, split = file
    with FileSystems.open(path) as lines:
        if kind == "csv":
            try:
                _, records = read_csv(lines, path)
            except HeaderError as error:  # Checked before the run; changed since.
                raise IngestError(str(error)) from None
        else:
            records = read_jsonl(lines, path)
        for record in records:
            if record.fields is None:
                yield _rejected(record.position, record.reason, record.detail, split)
                continue
            fields = record.fields
            yield _record(
                fields.get(config.text_field),
                fields.get(config.label_field),
                split or str(fields.get(config.split_field, "")).strip().lower(),
                record.position,
                record_id(fields.get(F.ID_KEY), record.position),
            )


class ReadDelimited(beam.PTransform):
    """csv or jsonl: a directory with `train*`/`test*` files, or one file with a split field."""

    def __init__(self, kind: str, path: str, config: IngestConfig):
        super().__init__()
        self._kind, self._path, self._config = kind, path, config

    def expand(self, root):
        kind, config = self._kind, self._config
        return (
            root
            | "Files" >> beam.Create(delimited_files(kind, self._path))
            | "Parse" >> beam.FlatMap(_delimited_records, kind, config)
        )


def read_source(root, config: IngestConfig):
    source: Source = config.parsed_source
    if source.kind == "tfds":
        return root | "ReadTfds" >> ReadTfds(
            source.location, config.data_dir, config.text_field, config.label_field
        )
    if source.kind == "aclimdb":
        return root | "ReadAclImdb" >> ReadAclImdb(source.location)
    return root | f"Read{source.kind.title()}" >> ReadDelimited(
        source.kind, source.location, config
    )


# ---- Splitting, sampling and writing. ----


def _sample_key(example: dict) -> float:
    return stable_fraction(example[F.ID_KEY] + example[F.TEXT_KEY], "max-examples")


def assign_split(example: dict, eval_fraction: float) -> dict:
    """train or eval for the source's train split (by a hash of the text), test stays test."""
    if example["split"] == "train" and stable_fraction(example[F.TEXT_KEY], "eval") < eval_fraction:
        # Keyed on the text alone so duplicate reviews land in the same split.
        return dict(example, split="eval")
    return example


class SplitExamples(beam.PTransform):
    """Accepted examples to a dict of split name -> PCollection, capped and carved."""

    def __init__(self, eval_fraction: float, max_examples: int):
        super().__init__()
        self._eval_fraction, self._max_examples = eval_fraction, max_examples

    def expand(self, examples):
        by_source_split = examples | "BySourceSplit" >> beam.Partition(
            lambda example, _: F.SOURCE_SPLITS.index(example["split"]), len(F.SOURCE_SPLITS)
        )
        capped = []
        for name, pcoll in zip(F.SOURCE_SPLITS, by_source_split, strict=True):
            if self._max_examples:
                # The smallest hashes: a deterministic, label-independent sample of the split.
                pcoll = (
                    pcoll
                    | f"Sample{name.title()}"
                    >> beam.combiners.Top.Of(self._max_examples, key=_sample_key, reverse=True)
                    | f"Unpack{name.title()}" >> beam.FlatMap(lambda batch: batch)
                )
            capped.append(pcoll)
        partitions = (
            capped
            | "FlattenSampled" >> beam.Flatten()
            | "AssignSplit" >> beam.Map(assign_split, self._eval_fraction)
            | "ByOutputSplit"
            >> beam.Partition(lambda example, _: F.SPLITS.index(example["split"]), len(F.SPLITS))
        )
        return dict(zip(F.SPLITS, partitions, strict=True))


def to_tf_example(example: dict) -> bytes:
    feature = {
        F.TEXT_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[example[F.TEXT_KEY].encode()])
        ),
        F.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[example[F.LABEL_KEY]])),
        F.ID_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[example[F.ID_KEY].encode()])
        ),
        F.RATING_KEY: tf.train.Feature(
            int64_list=tf.train.Int64List(value=[example[F.RATING_KEY]])
        ),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def summarize_counts(raw: dict) -> dict:
    """Counts that reconcile: read = written + quarantined + left out by --max-examples."""
    reasons = {key.split("/", 1)[1]: n for key, n in raw.items() if key.startswith("quarantine/")}
    written = {split: raw.get(split, 0) for split in F.SPLITS}
    read = raw.get("read", 0)
    quarantined = sum(reasons.values())
    return {
        "read": read,
        "written": written,
        "quarantined": quarantined,
        "quarantine_reasons": dict(sorted(reasons.items())),
        "not_sampled": read - quarantined - sum(written.values()),
    }


def build_ingest_pipeline(root, config: IngestConfig, output_dir: str) -> None:
    """Adds the whole ingest graph to a pipeline (separate from running it, for tests)."""
    records = read_source(root, config)
    validated = records | "Validate" >> beam.ParDo(
        ValidateRecords(config.source, config.max_text_bytes)
    ).with_outputs(QUARANTINE, main="accepted")
    deduplicated = validated.accepted | "DropDuplicateIds" >> DropDuplicateIds(config.source)
    splits = deduplicated.unique | "Split" >> SplitExamples(
        config.eval_fraction, config.max_examples
    )

    count_keys = [records | "CountRead" >> beam.Map(lambda _: "read")]
    for split, pcoll in splits.items():
        _ = (
            pcoll
            | f"Serialize{split.title()}" >> beam.Map(to_tf_example)
            | f"Write{split.title()}"
            >> beam.io.WriteToTFRecord(
                examples_prefix(output_dir, split), file_name_suffix=EXAMPLES_SUFFIX
            )
        )
        count_keys.append(pcoll | f"Count{split.title()}" >> beam.Map(lambda _, s=split: s))

    quarantine = (
        validated[QUARANTINE],
        deduplicated[QUARANTINE],
    ) | "AllQuarantined" >> beam.Flatten()
    write_quarantine_and_counts(quarantine, count_keys, output_dir)


def write_quarantine_and_counts(quarantine, count_keys: list, output_dir: str) -> None:
    """Writes the quarantined records with their reasons, and counts.json.

    `count_keys` are PCollections of one key per written record (its split); each quarantined
    record adds `quarantine/<reason>`, so the counts reconcile with what was read.
    """
    _ = (
        quarantine
        | "QuarantineJson" >> beam.Map(json.dumps, sort_keys=True)
        | "WriteQuarantine"
        >> beam.io.WriteToText(
            FileSystems.join(output_dir, QUARANTINE_DIR, "records"), file_name_suffix=".jsonl"
        )
    )
    quarantine_keys = quarantine | "CountQuarantine" >> beam.Map(
        lambda q: f"quarantine/{q['reason']}"
    )
    _ = (
        [*count_keys, quarantine_keys]
        | "FlattenCounts" >> beam.Flatten()
        | "Count" >> beam.combiners.Count.PerElement()
        | "ToDict" >> beam.combiners.ToDict()
        | "Summarize" >> beam.Map(lambda raw: json.dumps(summarize_counts(raw), indent=2))
        | "WriteCounts"
        >> beam.io.WriteToText(
            FileSystems.join(output_dir, "counts"), file_name_suffix=".json", shard_name_template=""
        )
    )


def source_fingerprint(config: IngestConfig) -> list:
    """What identifies the source's current content, for reusing an earlier ingest of it."""
    source = config.parsed_source
    if source.kind == "tfds":
        import tensorflow_datasets as tfds

        data_dir = config.data_dir or os.environ.get("TFDS_DATA_DIR", "")
        builder = tfds.builder(source.location, data_dir=data_dir or None)
        return [source.location, str(builder.version), builder.data_dir]
    if source.kind == "sine":
        return ["sine"]  # Generated: the options that shape it are in the step's key already.
    return file_fingerprint(source.location)


def read_counts(output_dir: str) -> dict:
    with FileSystems.open(FileSystems.join(output_dir, COUNTS_FILE)) as f:
        return json.load(io.TextIOWrapper(f, encoding="utf-8"))


def check_counts(config: IngestConfig, output_dir: str, required_splits: Sequence[str]) -> dict:
    """The counts of a finished ingest; raises IngestError past the quarantine ceiling or when
    a required split is empty."""
    # Checked once the output is complete, so the quarantine named below can be inspected.
    counts = read_counts(output_dir)
    quarantine_dir = FileSystems.join(output_dir, QUARANTINE_DIR)
    found = (
        f"read {counts['read']}, quarantined {counts['quarantined']} "
        f"{counts['quarantine_reasons']}, see {quarantine_dir}"
    )
    share = counts["quarantined"] / max(counts["read"], 1)
    if share > config.max_quarantine_fraction:
        raise IngestError(
            f"source {config.source!r}: {share:.2%} of records quarantined, above "
            f"--max-quarantine-fraction {config.max_quarantine_fraction} ({found})"
        )
    for split in required_splits:
        if not counts["written"][split]:
            raise IngestError(f"source {config.source!r} gave no usable {split} records ({found})")
    return counts


def run_ingest(
    config: IngestConfig,
    output_dir: str,
    beam_args: Sequence[str] = (),
    task: str = SENTIMENT,
    series: SeriesConfig = SeriesConfig(),  # noqa: B008 - frozen
) -> dict:
    """Reads `config.source` and writes the splits under `output_dir`; returns the counts.

    For the forecast task the source is a series, read as `series` says (timeseries.py).
    """
    if task == FORECAST:
        from components.ingest.timeseries import run_series_ingest

        return run_series_ingest(config, series, output_dir, beam_args)
    check_source_for_task(config.source, task)
    columns_not_read = check_delimited_headers(config)
    logger.info("ingest: reading %s", config.source)
    with atomic_directory(output_dir) as staging:
        with beam.Pipeline(options=pipeline_options(beam_args)) as root:
            build_ingest_pipeline(root, config, staging)
        if columns_not_read:
            counts_path = FileSystems.join(staging, COUNTS_FILE)
            counts = dict(read_counts(staging), columns_not_read=columns_not_read)
            with FileSystems.create(counts_path) as f:
                f.write(json.dumps(counts, indent=2).encode())
    counts = check_counts(config, output_dir, ("train", "test"))
    logger.info("ingest: %s", json.dumps(counts))
    return counts

"""Ingest for sentiment: reviews from a source, as train/eval/test (and unlabeled) tf.Examples.

The examples have text, label (0/1; NO_LABEL in `unlabeled`), id and rating; a quarantine line
has the record's id, and its label and split as read. The layout and counts are shared.py's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tarfile
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components.common import features as F
from components.common.config import ConfigError, IngestConfig, Source
from components.common.examples import REVIEW_FEATURES
from components.common.io import isdir, listdir, open_file
from components.ingest.records import HeaderError, check_columns, read_csv, read_jsonl
from components.ingest.shared import (
    NOT_SAMPLED,
    QUARANTINE,
    IngestError,
    position_order,
    quarantine_line,
    shown,
    write_quarantine_and_counts,
    write_splits,
)

logger = logging.getLogger(__name__)

_POSITIVE = {"1", "pos", "positive", "true"}
_NEGATIVE = {"0", "neg", "negative", "false"}
# aclImdb/<split>/<pos|neg>/<id>_<rating>.txt, and aclImdb/train/unsup/<id>_0.txt unlabeled.
_ACLIMDB_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
_ACLIMDB_UNLABELED = "unsup"
_REVIEW_MEMBER = re.compile(r"/(train|test)/(pos|neg)/[^/]+\.txt$")
_UNLABELED_MEMBER = re.compile(rf"/train/{_ACLIMDB_UNLABELED}/[^/]+\.txt$")
# The source splits records come from: labeled train and test, and unlabeled when asked for.
_SOURCE_SPLITS = (*F.SOURCE_SPLITS, F.UNLABELED_SPLIT)
# tensorflow-datasets' name of the unlabeled split (imdb_reviews' 50,000 reviews).
_TFDS_UNLABELED = "unsupervised"


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


def has_no_label(value: Any) -> bool:
    """Whether a label value says "no label": absent, empty, or tfds' -1."""
    if isinstance(value, str | bytes):
        return not value.strip()
    return value is None or (not isinstance(value, bool) and value == F.NO_LABEL)


def validate(
    record: dict, max_text_bytes: int, unlabeled: bool = False
) -> tuple[dict | None, str, str]:
    """A raw record as an accepted example, or None with the reason and a one-line detail;
    records of the unlabeled split are accepted only when `unlabeled` (--unlabeled) asks for them.

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
    if unlabeled and record["split"] == F.UNLABELED_SPLIT:
        if not has_no_label(record[F.LABEL_KEY]):
            detail = f"{shown(record[F.LABEL_KEY])} is a label, in the unlabeled split"
            return None, "label_in_unlabeled", detail
        return dict(record, **{F.TEXT_KEY: text, F.LABEL_KEY: F.NO_LABEL}), "", ""
    label = parse_label(record[F.LABEL_KEY])
    if label is None:
        allowed = "0/1, neg/pos, negative/positive or false/true"
        return None, "unknown_label", f"{shown(record[F.LABEL_KEY])} is not one of {allowed}"
    if record["split"] not in F.SOURCE_SPLITS:
        return None, "unknown_split", f"{shown(record['split'])} is not train or test"
    example = dict(record, **{F.TEXT_KEY: text, F.LABEL_KEY: label})
    return example, "", ""


def quarantined(
    source_spec: str, record: dict, reason: str, detail: str
) -> beam.pvalue.TaggedOutput:
    """The quarantine line of a set-aside record, on the QUARANTINE output."""
    line = quarantine_line(
        source_spec,
        record["position"],
        reason,
        detail,
        id=record[F.ID_KEY],
        label=shown(record[F.LABEL_KEY]),
        split=shown(record["split"]),
    )
    return beam.pvalue.TaggedOutput(QUARANTINE, line)


class ValidateRecords(beam.DoFn):
    """Emits accepted examples on the main output and quarantine lines on QUARANTINE."""

    def __init__(self, source_spec: str, max_text_bytes: int, unlabeled: bool):
        self._source_spec, self._max_text_bytes = source_spec, max_text_bytes
        self._unlabeled = unlabeled

    def process(self, record: dict) -> Iterator:
        example, reason, detail = validate(record, self._max_text_bytes, self._unlabeled)
        if example is not None:
            yield example
        else:
            yield quarantined(self._source_spec, record, reason, detail)


def first_positions_of_repeated_ids(accepted) -> beam.PCollection:
    """(id, position of its first record) for each id that more than one accepted record has.

    Only ids and positions are grouped, never the reviews: on the local runner a grouping is
    held in memory, so the step's memory grows by an id and a position a review.
    """
    return (
        accepted
        | "IdAndPosition" >> beam.Map(lambda example: (example[F.ID_KEY], example["position"]))
        | "CountAndFirst" >> beam.CombinePerKey(_count_and_first)
        | "Repeated" >> beam.Filter(lambda id_count_first: id_count_first[1][0] > 1)
        | "FirstPosition" >> beam.MapTuple(lambda rid, count_first: (rid, count_first[1]))
    )


def _count_and_first(positions) -> tuple[int, str]:
    # Called on positions and, to merge partial results, on (count, first) pairs.
    count, first = 0, None
    for item in positions:
        item_count, position = item if isinstance(item, tuple) else (1, item)
        count += item_count
        if first is None or position_order(position) < position_order(first):
            first = position
    return count, first


class DropDuplicateIds(beam.DoFn):
    """Keeps the first record (by position) of each id; quarantines the others, given the first
    positions of the repeated ids (a side input: few, where ids are meant to be unique)."""

    def __init__(self, source_spec: str):
        self._source_spec = source_spec

    def process(self, example: dict, first_positions: dict[str, str]) -> Iterator:
        first = first_positions.get(example[F.ID_KEY])
        if first is None or first == example["position"]:
            yield example
        else:
            detail = f"the id {shown(example[F.ID_KEY])} is first at {first}"
            yield quarantined(self._source_spec, example, "duplicate_id", detail)


# ---- Sources: each is a PTransform from the pipeline root to raw records with a `split`. ----


class ReadTfds(beam.PTransform):
    """Both labeled splits of a tensorflow-datasets dataset, and its `unsupervised` split when
    `unlabeled`; downloads the dataset first where it is missing."""

    def __init__(
        self, name: str, data_dir: str, text_field: str, label_field: str, unlabeled: bool
    ):
        super().__init__()
        self._name, self._data_dir = name, data_dir or None
        self._text_field, self._label_field = text_field, label_field
        self._unlabeled = unlabeled

    def expand(self, root):
        # Imported here: tensorflow-datasets takes seconds to import, and only this source
        # needs it.
        import tensorflow_datasets as tfds

        try:
            builder = tfds.builder(self._name, data_dir=self._data_dir)
        except tfds.core.registered.DatasetNotFoundError as error:
            raise IngestError(f"unknown tensorflow-datasets dataset {self._name!r}") from error
        if not builder.is_prepared():
            builder.download_and_prepare()
        tfds_splits = dict(zip(F.SOURCE_SPLITS, F.SOURCE_SPLITS, strict=True))
        if self._unlabeled:
            if _TFDS_UNLABELED not in builder.info.splits:
                raise IngestError(
                    f"--unlabeled: tensorflow-datasets dataset {self._name!r} has no "
                    f"{_TFDS_UNLABELED!r} split (it has {sorted(builder.info.splits)})"
                )
            tfds_splits[F.UNLABELED_SPLIT] = _TFDS_UNLABELED
        # One collection of (split, shard) read shard by shard, rather than a read per split
        # flattened together: the local runner holds a flatten's input in memory, and a
        # distributed runner still reads the shards in parallel.
        shards = [
            (split, tfds_split, shard)
            for split, tfds_split in tfds_splits.items()
            for shard in range(builder.info.splits[tfds_split].num_shards)
        ]
        return (
            root
            | "Shards" >> beam.Create(shards)
            | "ReadShards"
            >> beam.FlatMap(self._read_shard, builder, tfds.ReadConfig(add_tfds_id=True))
        )

    def _read_shard(self, shard: tuple[str, str, int], builder, read_config) -> Iterator[dict]:
        split, tfds_split, index = shard
        examples = builder.as_dataset(split=f"{tfds_split}[{index}shard]", read_config=read_config)
        for example in examples.as_numpy_iterator():
            yield _record(
                example.get(self._text_field),
                example.get(self._label_field),
                split,
                example["tfds_id"].decode(),
            )


def _aclimdb_record(path: str, content: bytes) -> dict:
    match = _ACLIMDB_PATH.search(path.replace(os.sep, "/"))
    if match is None:
        return _record(content, None, None, path)
    split, polarity, review_id, rating = match.groups()
    if polarity == _ACLIMDB_UNLABELED:
        # Only train's: unlabeled text from a test folder would leak test reviews into the
        # vocabulary and pretraining (quarantined as unknown_split instead).
        split, polarity = (F.UNLABELED_SPLIT if split == "train" else None), None
    rid = f"{match.group(1)}/{match.group(2)}/{review_id}"
    return _record(content, polarity, split, path, rid, int(rating))


def _read_aclimdb_tar(path: str, unlabeled: bool) -> Iterator[dict]:
    # Streamed: a .tar.gz cannot be split, and the whole archive need not sit in memory.
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        with tarfile.open(fileobj=raw, mode="r|gz") as archive:
            for member in archive:
                if not (
                    _REVIEW_MEMBER.search(member.name)
                    or (unlabeled and _UNLABELED_MEMBER.search(member.name))
                ):
                    continue
                if member.issym() or member.islnk():
                    # A stream cannot go back for a link's target; counted, never followed.
                    kind = "symbolic" if member.issym() else "hard"
                    detail = f"a {kind} link to {member.linkname!r}; links are not followed"
                    yield _rejected(member.name, "link", detail)
                elif member.isfile():
                    yield _aclimdb_record(member.name, archive.extractfile(member).read())


def aclimdb_files(folder: str, unlabeled: bool = False) -> list[str]:
    """The review files of an aclImdb folder, `<split>/<pos|neg>/*.txt` and `train/unsup/*.txt`
    when `unlabeled`, listed without glob patterns (a folder name with `[` or `*` is a name)."""
    folders = [f"{split}/{polarity}" for split in F.SOURCE_SPLITS for polarity in ("pos", "neg")]
    if unlabeled:
        folders.append(f"train/{_ACLIMDB_UNLABELED}")
    files = []
    for reviews in folders:
        reviews = f"{folder.rstrip('/')}/{reviews}"
        if isdir(reviews):
            names = sorted(listdir(reviews))
            files += [f"{reviews}/{name}" for name in names if name.endswith(".txt")]
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
    """Stanford's `aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`, as a directory or .tar.gz,
    and `aclImdb/train/unsup/<id>_0.txt` when `unlabeled`."""

    def __init__(self, path: str, unlabeled: bool):
        super().__init__()
        self._path, self._unlabeled = path, unlabeled

    def expand(self, root):
        if self._path.endswith((".tar.gz", ".tgz")):
            return (
                root
                | "ArchivePath" >> beam.Create([self._path])
                | beam.FlatMap(_read_aclimdb_tar, self._unlabeled)
            )
        return (
            root
            | "ReviewFiles" >> beam.Create(aclimdb_files(self._path, self._unlabeled))
            | "ReadReviews" >> beam.Map(_read_aclimdb_file, self._path)
        )


def delimited_files(
    kind: str, location: str, unlabeled: bool = False
) -> list[tuple[str, str | None]]:
    """(path, split or None) of each csv or jsonl file of a source: the file itself (its
    records name their split), or a folder's `train*` and `test*` files (and `unlabeled*` when
    `unlabeled`), listed without glob patterns (a name with `[` or `*` is a name)."""
    if not isdir(location):
        return [(location, None)]
    names = sorted(listdir(location))
    return [
        (f"{location.rstrip('/')}/{name}", split)
        for split in (_SOURCE_SPLITS if unlabeled else F.SOURCE_SPLITS)
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
    for path, split in delimited_files("csv", source.location, config.unlabeled):
        try:
            with open_file(path, "rb") as f:
                columns, _ = read_csv(f, path)
            needed = {"--text-field": config.text_field}
            if split != F.UNLABELED_SPLIT:  # An unlabeled file's rows need no label column.
                needed["--label-field"] = config.label_field
            if split is None:
                needed["--split-field"] = config.split_field
            check_columns(columns, path, needed)
        except HeaderError as error:
            raise ConfigError(f"--source={config.source!r} is not allowed: {error}") from None
        used = {*needed.values(), config.label_field, F.ID_KEY}
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
            label = fields.get(config.label_field)
            record_split = split or str(fields.get(config.split_field, "")).strip().lower()
            yield _record(
                fields.get(config.text_field),
                label,
                _delimited_split(record_split, label, config.unlabeled),
                record.position,
                record_id(fields.get(F.ID_KEY), record.position),
            )


def _delimited_split(split: Any, label: Any, unlabeled: bool) -> Any:
    """The split of a csv/jsonl record: with --unlabeled, an empty label outside test makes it
    unlabeled (a test review never feeds the unlabeled text)."""
    if unlabeled and split == "train" and has_no_label(label):
        return F.UNLABELED_SPLIT
    return split


class ReadDelimited(beam.PTransform):
    """csv or jsonl: a directory with `train*`/`test*` (and `unlabeled*`) files, or one file
    with a split field."""

    def __init__(self, kind: str, path: str, config: IngestConfig):
        super().__init__()
        self._kind, self._path, self._config = kind, path, config

    def expand(self, root):
        kind, config = self._kind, self._config
        return (
            root
            | "Files" >> beam.Create(delimited_files(kind, self._path, config.unlabeled))
            | "Parse" >> beam.FlatMap(_delimited_records, kind, config)
        )


def read_source(root, config: IngestConfig, label: str = "Read"):
    source: Source = config.parsed_source
    if source.kind == "tfds":
        return root | f"{label}Tfds" >> ReadTfds(
            source.location,
            config.data_dir,
            config.text_field,
            config.label_field,
            config.unlabeled,
        )
    if source.kind == "aclimdb":
        return root | f"{label}AclImdb" >> ReadAclImdb(source.location, config.unlabeled)
    return root | f"{label}{source.kind.title()}" >> ReadDelimited(
        source.kind, source.location, config
    )


# ---- Splitting, sampling and writing. ----


def _sample_rank(example: dict) -> tuple[float, str]:
    # The id breaks ties: ids are unique once duplicates are set aside.
    return stable_fraction(example[F.ID_KEY] + example[F.TEXT_KEY], "max-examples"), example[
        F.ID_KEY
    ]


def _is_sampled(example: dict, last_sampled: tuple[float, str] | None) -> bool:
    return last_sampled is not None and _sample_rank(example) <= last_sampled


def assign_split(example: dict, eval_fraction: float) -> dict:
    """train or eval for the source's train split (by a hash of the text); test and unlabeled
    stay as they are."""
    if example["split"] == "train" and stable_fraction(example[F.TEXT_KEY], "eval") < eval_fraction:
        # Keyed on the text alone so duplicate reviews land in the same split.
        return dict(example, split="eval")
    return example


class SplitExamples(beam.PTransform):
    """Accepted examples to a dict of split name -> PCollection, capped and carved; under
    NOT_SAMPLED, the examples the cap left out (counted, not written)."""

    def __init__(self, eval_fraction: float, max_examples: int):
        super().__init__()
        self._eval_fraction, self._max_examples = eval_fraction, max_examples

    def expand(self, examples):
        left_out = []
        if self._max_examples:
            examples, left_out = self._cap(examples)
        partitions = (
            examples
            | "AssignSplit" >> beam.Map(assign_split, self._eval_fraction)
            | "ByOutputSplit"
            >> beam.Partition(
                lambda example, _: F.REVIEW_SPLITS.index(example["split"]), len(F.REVIEW_SPLITS)
            )
        )
        splits = dict(zip(F.REVIEW_SPLITS, partitions, strict=True))
        not_sampled = left_out | "FlattenNotSampled" >> beam.Flatten(pipeline=examples.pipeline)
        return {**splits, NOT_SAMPLED: not_sampled}

    def _cap(self, examples):
        """(the sampled examples, per source split the examples left out). The local runner
        holds the sampled examples in memory (a flatten), so only an uncapped run streams."""
        by_source_split = examples | "BySourceSplit" >> beam.Partition(
            lambda example, _: _SOURCE_SPLITS.index(example["split"]), len(_SOURCE_SPLITS)
        )
        sampled, left_out = [], []
        for name, pcoll in zip(_SOURCE_SPLITS, by_source_split, strict=True):
            # The smallest hashes: a deterministic, label-independent sample of the split.
            # Split off by the last sampled rank, so the records left out are counted
            # themselves rather than inferred as a remainder.
            last_sampled = (
                pcoll
                | f"Rank{name.title()}" >> beam.Map(_sample_rank)
                | f"Sample{name.title()}" >> beam.combiners.Top.Smallest(self._max_examples)
                | f"LastSampled{name.title()}" >> beam.Map(max, default=None)
            )
            kept, not_sampled = pcoll | f"Cap{name.title()}" >> beam.Partition(
                lambda example, _, last: 0 if _is_sampled(example, last) else 1,
                2,
                beam.pvalue.AsSingleton(last_sampled),
            )
            sampled.append(kept)
            left_out.append(not_sampled)
        return sampled | "FlattenSampled" >> beam.Flatten(), left_out


def build_ingest_pipeline(root, config: IngestConfig, output_dir: str) -> None:
    """Adds the whole ingest graph to a pipeline (separate from running it, for tests).

    Raises ConfigError first where a csv file's header cannot give the fields.
    """
    columns_not_read = check_delimited_headers(config)
    validate = ValidateRecords(config.source, config.max_text_bytes, config.unlabeled)
    records = read_source(root, config)
    validated = records | "Validate" >> beam.ParDo(validate).with_outputs(
        QUARANTINE, main="accepted"
    )
    if config.parsed_source.kind == "tfds":
        # tfds ids name the record's file and index: unique, so there is nothing to drop.
        unique, quarantine = validated.accepted, [validated[QUARANTINE]]
    else:
        # The source is read a second time to split and write it: the first read's records
        # would otherwise be held in memory until every id was seen (the local runner keeps a
        # PCollection that a later stage reads), so memory would grow with the source. The
        # reread's quarantine repeats the first read's, which is the one written and counted.
        first_positions = first_positions_of_repeated_ids(validated.accepted)
        deduplicated = (
            read_source(root, config, "Reread")
            | "Revalidate" >> beam.ParDo(validate).with_outputs(QUARANTINE, main="accepted")
        ).accepted | "DropDuplicateIds" >> beam.ParDo(
            DropDuplicateIds(config.source), beam.pvalue.AsDict(first_positions)
        ).with_outputs(QUARANTINE, main="unique")
        unique, quarantine = deduplicated.unique, [validated[QUARANTINE], deduplicated[QUARANTINE]]
    splits = dict(unique | "Split" >> SplitExamples(config.eval_fraction, config.max_examples))
    not_sampled = splits.pop(NOT_SAMPLED)

    count_keys = [
        records | "CountRead" >> beam.Map(lambda _: "read"),
        not_sampled | "CountNotSampled" >> beam.Map(lambda _: NOT_SAMPLED),
    ]
    count_keys += write_splits(splits, REVIEW_FEATURES, output_dir)
    quarantine = quarantine | "AllQuarantined" >> beam.Flatten()
    extra = {"columns_not_read": columns_not_read} if columns_not_read else {}
    write_quarantine_and_counts(quarantine, count_keys, output_dir, F.REVIEW_SPLITS, extra)

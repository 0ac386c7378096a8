"""What ingest does the same for every task: quarantine lines, writing the splits, the counts.

Output layout under `output_dir`, whatever the task:
    {train,eval,test}/examples-*.tfrecord.gz   tf.Examples (components/common/examples.py);
                                               sentiment also writes unlabeled/
    quarantine/records-*.jsonl                 records set aside: source, position, reason,
                                               and what the task shows of the record
    counts.json                                records read, written per split, quarantined per
                                               reason, and left out by --max-examples
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from components.common import features as F
from components.common.artifacts import COUNTS_FILE, QUARANTINE_DIR, read_counts
from components.common.config import IngestConfig
from components.common.examples import to_tf_example
from components.common.io import EXAMPLES_SUFFIX, examples_prefix, file_versions

# The tag of the Beam outputs that carry quarantine lines.
QUARANTINE = "quarantine"
# The count key (and output name) of records left out by --max-examples.
NOT_SAMPLED = "not_sampled"
# How much of a set-aside value the quarantine shows: enough to recognize it.
SHOWN_CHARS = 100


class IngestError(RuntimeError):
    """The source cannot be read into usable splits."""


def shown(value: object) -> str:
    """A set-aside value as the quarantine shows it."""
    return repr(value)[:SHOWN_CHARS]


def quarantine_line(source_spec: str, position: str, reason: str, detail: str, **cells) -> dict:
    """What the quarantine keeps of a set-aside record: enough to find and judge it."""
    return {
        "source": source_spec,
        "position": position,
        "reason": reason,
        "detail": detail,
        **cells,
    }


def position_order(position: str) -> tuple:
    """A sort key putting positions (`path:line`, `path:first-last`, or a name) in file, then
    line, order."""
    path, _, lines = position.rpartition(":")
    first = lines.partition("-")[0]
    return (path, int(first)) if first.isdigit() else (position, 0)


def write_splits(
    splits: Mapping[str, beam.PCollection], feature_types: Mapping, output_dir: str
) -> list[beam.PCollection]:
    """Writes each split's examples as tf.Examples of `feature_types`; returns, per split, a
    PCollection of one count key (the split's name) per example written."""
    count_keys = []
    for split, pcoll in splits.items():
        _ = (
            pcoll
            | f"Serialize{split.title()}" >> beam.Map(to_tf_example, feature_types)
            | f"Write{split.title()}"
            >> beam.io.WriteToTFRecord(
                examples_prefix(output_dir, split), file_name_suffix=EXAMPLES_SUFFIX
            )
        )
        count_keys.append(pcoll | f"Count{split.title()}" >> beam.Map(lambda _, s=split: s))
    return count_keys


def write_json_file(
    pcoll: beam.PCollection, output_dir: str, name: str, label: str, sort_keys: bool
) -> None:
    """Writes the one JSON-ready value of `pcoll` to `output_dir/name`."""
    _ = (
        pcoll
        | f"{label}Json" >> beam.Map(json.dumps, indent=2, sort_keys=sort_keys)
        | f"Write{label}"
        >> beam.io.WriteToText(
            FileSystems.join(output_dir, name.removesuffix(".json")),
            file_name_suffix=".json",
            shard_name_template="",
        )
    )


def summarize_counts(raw: dict, splits: Sequence[str] = F.SPLITS) -> dict:
    """Counts that reconcile: read = written (to each of `splits`) + quarantined + left out by
    --max-examples."""
    reasons = {key.split("/", 1)[1]: n for key, n in raw.items() if key.startswith("quarantine/")}
    written = {split: raw.get(split, 0) for split in splits}
    read = raw.get("read", 0)
    quarantined = sum(reasons.values())
    return {
        "read": read,
        "written": written,
        "quarantined": quarantined,
        "quarantine_reasons": dict(sorted(reasons.items())),
        NOT_SAMPLED: raw.get(NOT_SAMPLED, 0),
    }


def write_quarantine_and_counts(
    quarantine,
    count_keys: list,
    output_dir: str,
    splits: Sequence[str] = F.SPLITS,
    extra: Mapping | None = None,
) -> None:
    """Writes the quarantined records with their reasons, and counts.json (written per split
    of `splits`, with `extra`, what the source reported besides the counts, such as columns
    not read).

    `count_keys` are PCollections of one key per record read ("read"), per written record (its
    split) and per record left out by --max-examples (NOT_SAMPLED); each quarantined record
    adds `quarantine/<reason>`. Each is counted where it happens, so check_counts can tell
    whether they reconcile with what was read.
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
    # Counted before they are flattened: the local runner holds a flatten's input in memory,
    # which would be a key a record.
    key_counts = [
        keys | f"CountKeys{i}" >> beam.combiners.Count.PerElement()
        for i, keys in enumerate([*count_keys, quarantine_keys])
    ]
    counts = (
        key_counts
        | "FlattenCounts" >> beam.Flatten()
        | "Total" >> beam.CombinePerKey(sum)
        | "ToDict" >> beam.combiners.ToDict()
        | "Summarize" >> beam.Map(lambda raw: {**summarize_counts(raw, splits), **(extra or {})})
    )
    write_json_file(counts, output_dir, COUNTS_FILE, "Counts", sort_keys=False)


def check_counts(config: IngestConfig, output_dir: str, required_splits: Sequence[str]) -> dict:
    """The counts of a finished ingest; raises IngestError when records are unaccounted for,
    past the quarantine ceiling, or when a required split is empty."""
    # Checked once the output is complete, so the quarantine named below can be inspected.
    counts = read_counts(output_dir)
    quarantine_dir = FileSystems.join(output_dir, QUARANTINE_DIR)
    found = (
        f"read {counts['read']}, quarantined {counts['quarantined']} "
        f"{counts['quarantine_reasons']}, see {quarantine_dir}"
    )
    accounted = sum(counts["written"].values()) + counts["quarantined"] + counts[NOT_SAMPLED]
    if accounted != counts["read"]:
        raise IngestError(
            f"source {config.source!r}: counts do not reconcile: {counts['read']} records read, "
            f"but {counts['written']} written + {counts['quarantined']} quarantined + "
            f"{counts[NOT_SAMPLED]} not sampled = {accounted}"
        )
    share = counts["quarantined"] / max(counts["read"], 1)
    if share > config.max_quarantine_fraction:
        raise IngestError(
            f"source {config.source!r}: {share:.2%} of records quarantined, above "
            f"--max-quarantine-fraction {config.max_quarantine_fraction} ({found})"
        )
    for split in required_splits:
        if not counts["written"][split]:
            asked = "; --unlabeled asks for them (--preset best sets it)"
            raise IngestError(
                f"source {config.source!r} gave no usable {split} records ({found})"
                + (asked if split == F.UNLABELED_SPLIT else "")
            )
    return counts


def source_fingerprint(config: IngestConfig) -> list:
    """What identifies the source's current content, for reusing an earlier ingest of it."""
    source = config.parsed_source
    if source.kind == "tfds":
        # Imported here: tensorflow-datasets takes seconds to import, and only tfds sources
        # need it.
        import tensorflow_datasets as tfds

        data_dir = config.data_dir or os.environ.get("TFDS_DATA_DIR", "")
        builder = tfds.builder(source.location, data_dir=data_dir or None)
        return [source.location, str(builder.version), builder.data_dir]
    if source.kind == "sine":
        return ["sine"]  # Generated: the options that shape it are in the step's key already.
    return file_versions(source.location)

"""Ingest's counts reconcile in every artifact that reports them, for every source kind, with
records quarantined and sampled out by --max-examples together.

The ingest step runs as a local run runs it (kfp.local, a subprocess); its counts.json, its
step metadata, the line the terminal shows and run_summary.json are each compared with counts
made here from the source itself, and with the files ingest wrote.
"""

import csv
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tensorflow as tf
from kfp import local

from components.common import features as F
from components.common.artifacts import COUNTS_FILE, QUARANTINE_DIR
from components.common.config import IngestConfig, PipelineConfig
from components.common.provenance import code_version
from components.common.tasks import SENTIMENT
from components.conftest import (
    SHARED_TFDS_DIR,
    generated_review,
    write_aclimdb,
    write_tfds_slice,
)
from components.ingest.component import ingest_sentiment
from pipeline.console import step_figures
from pipeline.dag import pipeline_arguments, step_task_names
from pipeline.local import EXECUTOR_OUTPUT_FILE, summarize_run

# Fewer than each source split's accepted records, so every source has records sampled out.
MAX_EXAMPLES = 10


@dataclass(frozen=True)
class Source:
    """A generated source and what it holds, known without ingest's code."""

    spec: str
    accepted: dict[str, int]  # Good records per source split.
    reasons: dict[str, int]  # Bad records per quarantine reason.
    config: dict = field(default_factory=dict)  # IngestConfig fields the source needs.


def good_rows() -> list[dict]:
    """16 good train and 14 good test rows."""
    rng = random.Random(0)
    splits = ["train"] * 16 + ["test"] * 14
    return [
        {"text": generated_review(rng, i % 2), "label": i % 2, "split": split}
        for i, split in enumerate(splits)
    ]


BAD_ROWS = [
    ({"text": "  ", "label": 1, "split": "train"}, "empty_text"),
    ({"text": "an odd label", "label": "maybe", "split": "test"}, "unknown_label"),
]


def write_csv(root: Path) -> Source:
    root.mkdir()
    path = root / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label", "split"])
        writer.writeheader()
        writer.writerows(good_rows() + [row for row, _ in BAD_ROWS])
    return Source(f"csv:{path}", {"train": 16, "test": 14}, dict(Counter(r for _, r in BAD_ROWS)))


def write_jsonl(root: Path) -> Source:
    root.mkdir()
    path = root / "reviews.jsonl"
    lines = [json.dumps(row) for row in good_rows() + [row for row, _ in BAD_ROWS]]
    path.write_text("\n".join([*lines, "{not json"]) + "\n", encoding="utf-8")
    reasons = Counter([r for _, r in BAD_ROWS] + ["invalid_json"])
    return Source(f"jsonl:{path}", {"train": 16, "test": 14}, dict(reasons))


def write_aclimdb_source(root: Path) -> Source:
    folder = write_aclimdb(root, {"train": 8, "test": 7})
    (folder / "train" / "pos" / "100_8.txt").write_text(" \n")
    (folder / "test" / "neg" / "101_2.txt").write_bytes(b"bad \xff byte")
    reasons = {"empty_text": 1, "not_utf8": 1}
    return Source(f"aclimdb:{folder}", {"train": 16, "test": 14}, reasons)


TFDS_MAX_TEXT_BYTES = 1000


def write_tfds_source(root: Path) -> Source:
    if not SHARED_TFDS_DIR.exists():
        pytest.skip("needs the prepared tfds data in ../shared/tfds")
    data_dir = write_tfds_slice(root, {"train": 40, "test": 40})
    # Reviews longer than --max-text-bytes are quarantined: counted here from the records.
    accepted, too_long = {}, 0
    for split in ("train", "test"):
        (shard,) = data_dir.glob(f"imdb_reviews/*/*/imdb_reviews-{split}.tfrecord-*")
        sizes = [
            len(
                tf.train.Example.FromString(record.numpy())
                .features.feature["text"]
                .bytes_list.value[0]
            )
            for record in tf.data.TFRecordDataset(str(shard))
        ]
        accepted[split] = sum(size <= TFDS_MAX_TEXT_BYTES for size in sizes)
        too_long += len(sizes) - accepted[split]
    config = {"data_dir": str(data_dir), "max_text_bytes": TFDS_MAX_TEXT_BYTES}
    return Source("tfds:imdb_reviews", accepted, {"text_too_long": too_long}, config)


SOURCES = {
    "tfds": write_tfds_source,
    "aclimdb": write_aclimdb_source,
    "csv": write_csv,
    "jsonl": write_jsonl,
}


def run_ingest_step(config: PipelineConfig, root: Path) -> Path:
    """Runs the ingest step with kfp.local as `lstm-pipeline run` does; returns the run's folder."""
    pipeline_root = root / "artifacts"
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    arguments = {**pipeline_arguments(config, str(root / "cache")), "code_version": code_version()}
    inputs = ingest_sentiment.component_spec.inputs
    ingest_sentiment(**{name: value for name, value in arguments.items() if name in inputs})
    (run_dir,) = pipeline_root.iterdir()
    return run_dir


def count_records(examples_dir: Path, split: str) -> int:
    files = [str(path) for path in examples_dir.glob(f"{split}/*.tfrecord.gz")]
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


# kfp.local warns that the step's image is not Python's; the subprocess runner ignores images.
@pytest.mark.filterwarnings("ignore:You may be attemping to run a task:RuntimeWarning")
@pytest.mark.parametrize("kind", SOURCES)
def test_counts_reconcile_in_every_artifact_with_quarantine_and_sampling(kind, tmp_path):
    source = SOURCES[kind](tmp_path / "source")
    assert all(n > MAX_EXAMPLES for n in source.accepted.values()) and source.reasons
    ingest = IngestConfig(
        source=source.spec,
        max_examples=MAX_EXAMPLES,
        eval_fraction=0.4,
        max_quarantine_fraction=0.9,
        **source.config,
    )
    config = PipelineConfig(ingest=ingest)
    run_dir = run_ingest_step(config, tmp_path / "run")

    task_dir = run_dir / step_task_names(SENTIMENT)["ingest"]
    examples_dir = task_dir / "examples"
    executor_output = json.loads((task_dir / EXECUTOR_OUTPUT_FILE).read_text())
    metadata = executor_output["artifacts"]["examples"]["artifacts"][0]["metadata"]
    counts_file = json.loads((examples_dir / COUNTS_FILE).read_text())
    summary = summarize_run(str(run_dir), config, "succeeded", 0.0)

    quarantined = sum(source.reasons.values())
    expected = {
        "read": sum(source.accepted.values()) + quarantined,
        "quarantined": quarantined,
        "quarantine_reasons": dict(sorted(source.reasons.items())),
        # The cap applies to each source split's accepted records.
        "not_sampled": sum(n - MAX_EXAMPLES for n in source.accepted.values()),
    }
    artifacts = {
        COUNTS_FILE: counts_file,
        "step metadata": metadata["counts"],
        "run_summary.json": summary["ingest"],
    }
    for name, counts in artifacts.items():
        assert {key: counts[key] for key in expected} == expected, name
        assert counts == counts_file, name
        written = sum(counts["written"].values())
        assert counts["read"] == written + counts["quarantined"] + counts["not_sampled"], name
    written = counts_file["written"]
    assert written["train"] + written["eval"] == MAX_EXAMPLES == written["test"]
    assert written["train"] > 0 and written["eval"] > 0 and written[F.UNLABELED_SPLIT] == 0
    assert summary["counts"] == written
    assert {split: count_records(examples_dir, split) for split in F.SPLITS} == {
        split: written[split] for split in F.SPLITS
    }
    lines = []
    for path in examples_dir.glob(f"{QUARANTINE_DIR}/*.jsonl"):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    assert dict(Counter(line["reason"] for line in lines)) == source.reasons
    assert step_figures("ingest", {"examples": metadata}) == (
        f"read {expected['read']:,}, quarantined {quarantined:,}"
    )

"""Unlabeled reviews (--unlabeled): read from every kind of source into their own output, checked
like the rest, and never written to train, eval or test."""

import json

import pytest

from components.common import features as F
from components.common.config import ConfigError, IngestConfig
from components.common.tasks import FORECAST, SENTIMENT
from components.conftest import SHARED_TFDS_DIR, tar_directory, write_aclimdb
from components.ingest.ingest import run_ingest
from components.ingest.sentiment import validate
from components.ingest.shared import IngestError
from components.ingest.test_ingest import read_examples, read_quarantine


def _write_unsup(directory, count: int) -> set[str]:
    folder = directory / "train" / "unsup"
    folder.mkdir(parents=True)
    for review_id in range(count):
        (folder / f"{review_id}_0.txt").write_text(f"unlabeled review {review_id} words")
    (folder / f"{count}_0.txt").write_text("   ")  # Checked like every record: empty_text.
    return {f"train/unsup/{review_id}" for review_id in range(count)}


def _ids_by_split(output: str) -> dict[str, set[str]]:
    return {split: {e[F.ID_KEY] for e in read_examples(output, split)} for split in F.REVIEW_SPLITS}


@pytest.mark.parametrize("packed", [False, True], ids=["directory", "archive"])
def test_aclimdb_unsup_reviews_go_to_unlabeled_only(tmp_path, packed):
    directory = write_aclimdb(tmp_path / "src", {"train": 10, "test": 4})
    unlabeled_ids = _write_unsup(directory, 12)
    location = tar_directory(directory, tmp_path / "acl.tar.gz") if packed else directory
    output = str(tmp_path / "out")
    config = IngestConfig(source=f"aclimdb:{location}", unlabeled=True, max_quarantine_fraction=0.1)
    counts = run_ingest(SENTIMENT, config, output)

    ids = _ids_by_split(output)
    assert ids[F.UNLABELED_SPLIT] == unlabeled_ids
    labeled = ids["train"] | ids["eval"] | ids["test"]
    assert len(labeled) == 28 and not labeled & unlabeled_ids
    assert {e[F.LABEL_KEY] for e in read_examples(output, F.UNLABELED_SPLIT)} == {F.NO_LABEL}
    assert counts["written"][F.UNLABELED_SPLIT] == 12
    assert counts["quarantine_reasons"] == {"empty_text": 1}
    assert counts["read"] == 28 + 13 == sum(counts["written"].values()) + counts["quarantined"]


def test_without_the_option_unsup_reviews_are_not_read(tmp_path):
    directory = write_aclimdb(tmp_path / "src", {"train": 10, "test": 4})
    _write_unsup(directory, 12)
    output = str(tmp_path / "out")
    counts = run_ingest(SENTIMENT, IngestConfig(source=f"aclimdb:{directory}"), output)
    assert counts["read"] == 28 and counts["quarantined"] == 0
    assert counts["written"][F.UNLABELED_SPLIT] == 0
    assert read_examples(output, F.UNLABELED_SPLIT) == []


def test_csv_rows_without_a_label_are_unlabeled_only_when_asked_and_never_from_test(tmp_path):
    source = tmp_path / "reviews"
    source.mkdir()
    (source / "train.csv").write_text(
        "id,text,label\n"
        + "".join(f"t{i},train review {i},{i % 2}\n" for i in range(10))
        + "u1,no label in train,\n"
    )
    (source / "unlabeled.csv").write_text(
        "id,text,label\nu2,an unlabeled file's review,\nu3,a labeled one here,pos\n"
    )
    (source / "test.csv").write_text(
        "id,text,label\ns1,test review,1\ns2,test review without a label,\n"
    )
    asked = str(tmp_path / "asked")
    config = IngestConfig(source=f"csv:{source}", unlabeled=True, max_quarantine_fraction=0.5)
    counts = run_ingest(SENTIMENT, config, asked)
    ids = _ids_by_split(asked)
    assert ids[F.UNLABELED_SPLIT] == {"u1", "u2"}
    assert ids["test"] == {"s1"}
    assert ids["train"] | ids["eval"] == {f"t{i}" for i in range(10)}
    assert counts["quarantine_reasons"] == {"label_in_unlabeled": 1, "unknown_label": 1}
    assert {q["id"] for q in read_quarantine(asked)} == {"u3", "s2"}
    assert counts["read"] == 15 == sum(counts["written"].values()) + counts["quarantined"]

    not_asked = str(tmp_path / "not_asked")
    config = IngestConfig(source=f"csv:{source}", max_quarantine_fraction=0.5)
    counts = run_ingest(SENTIMENT, config, not_asked)
    assert counts["written"][F.UNLABELED_SPLIT] == 0
    # unlabeled*.csv is not read; rows without a label are set aside as before.
    assert counts["read"] == 13 and counts["quarantine_reasons"] == {"unknown_label": 2}


def test_jsonl_split_field_names_unlabeled_records(tmp_path):
    rows = [{"text": f"r{i}", "label": i % 2, "split": "train", "id": f"t{i}"} for i in range(6)]
    rows += [{"text": "held out", "label": 1, "split": "test", "id": "s"}]
    rows += [{"text": "extra text", "split": "unlabeled", "id": "u1"}]
    rows += [{"text": "extra text 2", "label": "", "split": "train", "id": "u2"}]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    output = str(tmp_path / "out")
    config = IngestConfig(source=f"jsonl:{path}", unlabeled=True)
    counts = run_ingest(SENTIMENT, config, output)
    assert _ids_by_split(output)[F.UNLABELED_SPLIT] == {"u1", "u2"}
    assert counts["written"][F.UNLABELED_SPLIT] == 2 and counts["quarantined"] == 0


def test_tfds_unsupervised_split_is_read_into_unlabeled(tmp_path):
    output = str(tmp_path / "out")
    config = IngestConfig(data_dir=str(SHARED_TFDS_DIR), max_examples=20, unlabeled=True)
    counts = run_ingest(SENTIMENT, config, output)
    assert counts["read"] == 100_000
    assert counts["written"][F.UNLABELED_SPLIT] == 20
    assert counts["not_sampled"] == 100_000 - 60
    unlabeled = read_examples(output, F.UNLABELED_SPLIT)
    assert all(e[F.ID_KEY].startswith("imdb_reviews-unsupervised") for e in unlabeled)
    assert {e[F.LABEL_KEY] for e in unlabeled} == {F.NO_LABEL}
    for split in F.SPLITS:
        assert not any("unsupervised" in e[F.ID_KEY] for e in read_examples(output, split))


@pytest.mark.parametrize(
    "asked, reason, detail",
    [(False, "unknown_label", "None is not one of 0/1"), (True, "", "")],
)
def test_an_unlabeled_record_is_accepted_only_when_asked(asked, reason, detail):
    record = {F.TEXT_KEY: "t", F.LABEL_KEY: None, "split": F.UNLABELED_SPLIT, "position": "p"}
    example, found, found_detail = validate(dict(record, **{F.ID_KEY: "i"}), 100, unlabeled=asked)
    assert found == reason and found_detail.startswith(detail)
    assert (example or {}).get(F.LABEL_KEY) == (F.NO_LABEL if asked else None)


def test_a_label_in_the_unlabeled_split_is_set_aside_with_the_label_shown():
    record = {F.TEXT_KEY: "t", F.LABEL_KEY: "pos", "split": F.UNLABELED_SPLIT, "position": "p"}
    example, reason, detail = validate(dict(record, **{F.ID_KEY: "i"}), 100, unlabeled=True)
    assert (example, reason) == (None, "label_in_unlabeled")
    assert detail == "'pos' is a label, in the unlabeled split"


def test_an_unlabeled_csv_file_needs_no_label_column(tmp_path):
    source = tmp_path / "reviews"
    source.mkdir()
    (source / "train.csv").write_text(
        "id,text,label\n" + "".join(f"t{i},train review {i},{i % 2}\n" for i in range(4))
    )
    (source / "test.csv").write_text("id,text,label\ns1,test review,1\n")
    (source / "unlabeled.csv").write_text("id,text\nu1,only text here\nu2,and here\n")
    output = str(tmp_path / "out")
    counts = run_ingest(SENTIMENT, IngestConfig(source=f"csv:{source}", unlabeled=True), output)
    assert _ids_by_split(output)[F.UNLABELED_SPLIT] == {"u1", "u2"}
    assert counts["quarantined"] == 0 and "columns_not_read" not in counts


@pytest.mark.parametrize("kind", ["aclimdb", "csv"])
def test_asked_for_unlabeled_reviews_a_source_without_any_fails_at_ingest(tmp_path, kind):
    # Not two steps later at train, where the vocabulary or word vectors would need them.
    if kind == "aclimdb":
        location = write_aclimdb(tmp_path / "src", {"train": 10, "test": 4})
    else:
        location = tmp_path / "reviews.csv"
        rows = [f"r{i},review {i},{i % 2},{'test' if i < 4 else 'train'}\n" for i in range(24)]
        location.write_text("id,text,label,split\n" + "".join(rows))
    config = IngestConfig(source=f"{kind}:{location}", unlabeled=True)
    with pytest.raises(IngestError, match=r"no usable unlabeled records .*--unlabeled asks"):
        run_ingest(SENTIMENT, config, str(tmp_path / "out"))


def test_a_series_has_no_unlabeled_reviews_to_ask_for(tmp_path):
    with pytest.raises(ConfigError, match="--unlabeled=True is not allowed: with --task forecast"):
        run_ingest(FORECAST, IngestConfig(source="sine:", unlabeled=True), str(tmp_path))

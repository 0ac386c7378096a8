import json

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from components.common import features as F
from components.common.artifacts import QUARANTINE_DIR
from components.common.beam import LOCAL_RUNNER
from components.common.config import ConfigError, IngestConfig, Source
from components.common.tasks import SENTIMENT
from components.conftest import SHARED_TFDS_DIR, tar_directory, write_aclimdb
from components.ingest.ingest import run_ingest
from components.ingest.sentiment import (
    DropDuplicateIds,
    SplitExamples,
    first_positions_of_repeated_ids,
    parse_label,
    stable_fraction,
    validate,
)
from components.ingest.shared import (
    NOT_SAMPLED,
    QUARANTINE,
    IngestError,
    check_counts,
    position_order,
    shown,
)


def read_examples(output_dir: str, split: str) -> list[dict]:
    files = tf.io.gfile.glob(f"{output_dir}/{split}/examples-*.tfrecord.gz")
    examples = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        examples.append(
            {
                F.TEXT_KEY: feature[F.TEXT_KEY].bytes_list.value[0].decode(),
                F.LABEL_KEY: feature[F.LABEL_KEY].int64_list.value[0],
                F.ID_KEY: feature[F.ID_KEY].bytes_list.value[0].decode(),
                F.RATING_KEY: feature[F.RATING_KEY].int64_list.value[0],
            }
        )
    return examples


def read_quarantine(output_dir: str) -> list[dict]:
    lines = []
    for path in tf.io.gfile.glob(f"{output_dir}/{QUARANTINE_DIR}/*.jsonl"):
        lines += [json.loads(line) for line in tf.io.gfile.GFile(path).read().splitlines()]
    return lines


@pytest.mark.parametrize(
    "value, label",
    [(1, 1), (0, 0), ("pos", 1), ("NEG", 0), (" positive ", 1), ("0", 0), (True, 1), (1.0, 1)],
)
def test_parse_label_accepts_known_spellings(value, label):
    assert parse_label(value) == label


@pytest.mark.parametrize("value", [None, "", "maybe", 2, -1, "10"])
def test_parse_label_rejects_everything_else(value):
    assert parse_label(value) is None


@pytest.mark.parametrize(
    "text, label, split, reason, detail",
    [
        ("  \n\u2028", 1, "train", "empty_text", "the text is empty or only whitespace"),
        (None, 1, "train", "missing_text", "no text: the field is absent or null"),
        (12, 1, "train", "text_not_a_string", "the text is a number, not a string"),
        (["a"], 1, "train", "text_not_a_string", "the text is an array, not a string"),
        ({"a": 1}, 1, "train", "text_not_a_string", "the text is an object, not a string"),
        (True, 1, "train", "text_not_a_string", "the text is true or false, not a string"),
        (b"caf\xe9 au lait", 1, "train", "not_utf8", "byte 0xe9 at byte 4 is not UTF-8"),
        ("fine text", "meh", "train", "unknown_label", "'meh' is not one of 0/1, neg/pos"),
        ("fine text", None, "train", "unknown_label", "None is not one of"),
        ("fine text", 1, "validation", "unknown_split", "'validation' is not train or test"),
    ],
)
def test_validate_names_the_reason_and_what_was_found(text, label, split, reason, detail):
    record = {F.TEXT_KEY: text, F.LABEL_KEY: label, "split": split, "position": "p", F.ID_KEY: "i"}
    example, found_reason, found_detail = validate(record, max_text_bytes=100)
    assert example is None and found_reason == reason and found_detail.startswith(detail)


def test_validate_measures_the_length_in_bytes():
    record = {
        F.TEXT_KEY: "é" * 60,
        F.LABEL_KEY: 1,
        "split": "train",
        "position": "p",
        F.ID_KEY: "i",
    }
    assert validate(record, max_text_bytes=100) == (
        None,
        "text_too_long",
        "120 bytes, above --max-text-bytes 100",
    )
    assert validate(record, max_text_bytes=120)[0][F.TEXT_KEY] == "é" * 60


def test_source_spec_parsing():
    assert Source.parse("tfds") == Source("tfds", "imdb_reviews")
    assert Source.parse("csv:/data/x.csv") == Source("csv", "/data/x.csv")
    with pytest.raises(ConfigError, match="--source='parquet:x'"):
        Source.parse("parquet:x")
    with pytest.raises(ConfigError, match="needs a path"):
        IngestConfig(source="aclimdb:")


def _example(i: int, split: str = "train") -> dict:
    return {F.TEXT_KEY: f"review number {i}", F.LABEL_KEY: i % 2, "split": split, F.ID_KEY: str(i)}


def test_split_examples_carves_eval_from_train_only_and_deterministically():
    examples = [_example(i) for i in range(200)] + [_example(i, "test") for i in range(200, 250)]
    # Which train ids go to eval depends only on the text's hash, never on order or runner.
    expected_eval = [i for i in range(200) if _is_eval(_example(i)[F.TEXT_KEY], fraction=0.25)]
    assert 30 <= len(expected_eval) <= 70  # About a quarter of 200.
    with test_pipeline.TestPipeline(runner=LOCAL_RUNNER) as p:
        splits = p | beam.Create(examples) | SplitExamples(eval_fraction=0.25, max_examples=0)
        ids = {
            name: pcoll | f"Ids{name}" >> beam.Map(lambda e: int(e[F.ID_KEY]))
            for name, pcoll in splits.items()
        }
        assert_that(ids["test"], equal_to(list(range(200, 250))), label="TestUntouched")
        assert_that(ids["eval"], equal_to(expected_eval), label="EvalByHash")
        assert_that(
            ids["train"], equal_to(sorted(set(range(200)) - set(expected_eval))), label="TrainRest"
        )


def _is_eval(text: str, fraction: float) -> bool:
    return stable_fraction(text, "eval") < fraction


def test_split_examples_caps_each_source_split():
    examples = [_example(i) for i in range(100)] + [_example(i, "test") for i in range(100, 180)]
    with test_pipeline.TestPipeline(runner=LOCAL_RUNNER) as p:
        splits = p | beam.Create(examples) | SplitExamples(eval_fraction=0.1, max_examples=30)
        train_and_eval = (splits["train"], splits["eval"]) | beam.Flatten()
        assert_that(
            train_and_eval | beam.combiners.Count.Globally(), equal_to([30]), label="TrainCap"
        )
        assert_that(
            splits["test"] | "CountTest" >> beam.combiners.Count.Globally(),
            equal_to([30]),
            label="TestCap",
        )
        # Left out and counted: 100 - 30 train and 80 - 30 test records.
        assert_that(
            splits[NOT_SAMPLED] | "CountLeftOut" >> beam.combiners.Count.Globally(),
            equal_to([120]),
            label="NotSampled",
        )


def test_aclimdb_directory_and_archive_give_the_same_examples(tmp_path):
    directory = write_aclimdb(tmp_path / "src", {"train": 12, "test": 5})
    archive = tar_directory(directory, tmp_path / "aclImdb_v1.tar.gz")
    outputs = {}
    for name, location in (("dir", directory), ("tar", archive)):
        output = str(tmp_path / name)
        counts = run_ingest(SENTIMENT, IngestConfig(source=f"aclimdb:{location}"), output)
        assert counts["read"] == 34 and counts["quarantined"] == 0
        assert sum(counts["written"].values()) == 34
        outputs[name] = {
            split: sorted(read_examples(output, split), key=lambda e: e[F.ID_KEY])
            for split in F.SPLITS
        }
    assert outputs["dir"] == outputs["tar"]
    test = outputs["dir"]["test"]
    assert len(test) == 10
    first = next(e for e in test if e[F.ID_KEY] == "test/pos/0")
    # The rating comes from the file name <id>_<rating>.txt, the label from the folder.
    expected_path = next((directory / "test" / "pos").glob("0_*.txt"))
    assert first[F.RATING_KEY] == int(expected_path.stem.split("_")[1])
    assert first[F.LABEL_KEY] == 1
    assert first[F.TEXT_KEY] == expected_path.read_text()


def test_csv_directory_with_custom_fields_and_bad_records_quarantined(tmp_path):
    source = tmp_path / "tweets"
    source.mkdir()
    (source / "train.csv").write_text(
        "tweet,sentiment\n"
        '"loved it, really",pos\n'
        '"a ""quoted""\nmulti-line tweet",neg\n'
        "   ,pos\n"
        "no label here,\n"
        "fine,negative\n",
        encoding="utf-8",
    )
    (source / "test.csv").write_bytes(b"tweet,sentiment\nall good,1\n" + b"bad \xff bytes,0\n")
    output = str(tmp_path / "out")
    config = IngestConfig(
        source=f"csv:{source}",
        text_field="tweet",
        label_field="sentiment",
        max_quarantine_fraction=0.5,
    )
    counts = run_ingest(SENTIMENT, config, output)
    assert counts["read"] == 7
    assert counts["quarantine_reasons"] == {
        "empty_text": 1,
        "not_utf8": 1,
        "unknown_label": 1,
    }
    written = sum(counts["written"].values())
    assert written == 4 and counts["read"] == written + counts["quarantined"]
    texts = {e[F.TEXT_KEY] for split in F.SPLITS for e in read_examples(output, split)}
    assert 'a "quoted"\nmulti-line tweet' in texts
    quarantined = read_quarantine(output)
    assert sorted(q["reason"] for q in quarantined) == [
        "empty_text",
        "not_utf8",
        "unknown_label",
    ]
    assert all(q["position"].startswith(str(source)) for q in quarantined)


def test_single_jsonl_file_names_splits_in_a_field(tmp_path):
    rows = [
        {"text": f"text {i}", "label": i % 2, "split": "train", "id": f"r{i}"} for i in range(8)
    ]
    rows += [{"text": "held out", "label": "pos", "split": "test"}]
    rows += [{"text": "where do I go", "label": 1, "split": "dev"}]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    output = str(tmp_path / "out")
    counts = run_ingest(
        SENTIMENT, IngestConfig(source=f"jsonl:{path}", max_quarantine_fraction=0.5), output
    )
    assert counts["read"] == 11
    assert counts["quarantine_reasons"] == {"invalid_json": 1, "unknown_split": 1}
    assert counts["written"]["test"] == 1
    ids = {e[F.ID_KEY] for e in read_examples(output, "train") + read_examples(output, "eval")}
    assert ids == {f"r{i}" for i in range(8)}


def test_a_source_without_test_records_fails_with_the_counts(tmp_path):
    path = tmp_path / "only_train.jsonl"
    path.write_text(json.dumps({"text": "t", "label": 1, "split": "train"}) + "\n")
    with pytest.raises(IngestError, match="no usable test records"):
        run_ingest(SENTIMENT, IngestConfig(source=f"jsonl:{path}"), str(tmp_path / "out"))


def test_tfds_source_reads_the_prepared_imdb_reviews(tmp_path):
    output = str(tmp_path / "out")
    config = IngestConfig(data_dir=str(SHARED_TFDS_DIR), max_examples=40)
    counts = run_ingest(SENTIMENT, config, output)
    assert counts["read"] == 50_000
    assert counts["written"]["test"] == 40
    assert counts["written"]["train"] + counts["written"]["eval"] == 40
    assert counts["not_sampled"] == 50_000 - 80
    test = read_examples(output, "test")
    assert {e[F.LABEL_KEY] for e in test} == {0, 1}
    assert all(e[F.ID_KEY].startswith("imdb_reviews-test.tfrecord") for e in test)


def write_corrupted_jsonl(path) -> dict:
    """A source with every kind of bad record; returns the expected quarantine reasons."""
    lines = [
        json.dumps({"text": f"good review {i}", "label": i % 2, "split": "train", "id": f"g{i}"})
        for i in range(40)
    ]
    lines += [
        json.dumps({"text": f"test review {i}", "label": "pos", "split": "test"}) for i in range(8)
    ]
    bad = [
        ({"text": "", "label": 1, "split": "train"}, "empty_text"),
        ({"text": " \t\n ", "label": 1, "split": "train"}, "empty_text"),
        ({"label": 1, "split": "train"}, "missing_text"),
        ({"text": "no label", "split": "train"}, "unknown_label"),
        ({"text": "odd label", "label": "maybe", "split": "train"}, "unknown_label"),
        ({"text": "x" * 300, "label": 0, "split": "train"}, "text_too_long"),
        ({"text": "again", "label": 0, "split": "train", "id": "g3"}, "duplicate_id"),
        ({"text": "lost", "label": 0, "split": "holdout"}, "unknown_split"),
    ]
    lines += [json.dumps(record) for record, _ in bad]
    lines.append("{not json")
    content = (
        "\n".join(lines).encode() + b'\n{"text": "bad \xff byte", "label": 1, "split": "train"}\n'
    )
    path.write_bytes(content)
    reasons = {}
    for reason in [r for _, r in bad] + ["invalid_json", "not_utf8"]:
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


def test_every_kind_of_bad_record_is_quarantined_and_counts_reconcile(tmp_path):
    path = tmp_path / "corrupted.jsonl"
    expected_reasons = write_corrupted_jsonl(path)
    output = str(tmp_path / "out")
    config = IngestConfig(source=f"jsonl:{path}", max_text_bytes=200, max_quarantine_fraction=0.5)
    counts = run_ingest(SENTIMENT, config, output)
    assert counts["quarantine_reasons"] == dict(sorted(expected_reasons.items()))
    assert counts["read"] == 58
    written = sum(counts["written"].values())
    assert written == 48
    assert counts["read"] == written + counts["quarantined"] + counts["not_sampled"]
    assert counts["not_sampled"] == 0
    quarantined = read_quarantine(output)
    assert len(quarantined) == counts["quarantined"]
    # The earlier g3 is kept; the later duplicate is set aside with its position.
    (duplicate,) = [q for q in quarantined if q["reason"] == "duplicate_id"]
    assert duplicate["id"] == "g3" and duplicate["position"].endswith(":55")
    ids = {e[F.ID_KEY] for split in F.SPLITS for e in read_examples(output, split)}
    assert "g3" in ids


def test_too_much_quarantine_fails_naming_counts_and_location(tmp_path):
    path = tmp_path / "corrupted.jsonl"
    write_corrupted_jsonl(path)
    output = str(tmp_path / "out")
    with pytest.raises(IngestError) as error:
        run_ingest(SENTIMENT, IngestConfig(source=f"jsonl:{path}", max_text_bytes=200), output)
    message = str(error.value)
    assert "17.24% of records quarantined, above --max-quarantine-fraction 0.01" in message
    assert "read 58, quarantined 10" in message
    assert f"see {output}/quarantine" in message


def test_counts_that_do_not_reconcile_fail_naming_each_count(tmp_path):
    # One record read but neither written, quarantined nor sampled out: silently lost.
    counts = {
        "read": 10,
        "written": {"train": 5, "eval": 1, "test": 2, "unlabeled": 0},
        "quarantined": 1,
        "quarantine_reasons": {"empty_text": 1},
        "not_sampled": 0,
    }
    (tmp_path / "counts.json").write_text(json.dumps(counts))
    config = IngestConfig(source=f"jsonl:{tmp_path}/x.jsonl", max_quarantine_fraction=0.5)
    with pytest.raises(IngestError, match="counts do not reconcile: 10 records read, but") as error:
        check_counts(config, str(tmp_path), F.SPLITS)
    assert "+ 1 quarantined + 0 not sampled = 9" in str(error.value)


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "0", "false", "c d"]), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
def test_of_every_repeated_id_the_first_record_by_position_is_kept_and_the_rest_quarantined(
    ids, random
):
    # Positions in two files, lines up to 41 (a string sort would put line 10 before 9),
    # arriving shuffled as Beam may deliver them: the first is by file, then line number.
    positions = [f"f{i % 2}.jsonl:{i + 2}" for i in range(len(ids))]
    records = [
        {F.ID_KEY: rid, "position": position, F.LABEL_KEY: 1, "split": "train"}
        for rid, position in zip(ids, positions, strict=True)
    ]
    random.shuffle(records)
    first = {}
    for record in sorted(records, key=lambda r: position_order(r["position"])):
        first.setdefault(record[F.ID_KEY], record["position"])
    with test_pipeline.TestPipeline(runner=LOCAL_RUNNER) as p:
        accepted = p | beam.Create(records)
        kept = accepted | "Drop" >> beam.ParDo(
            DropDuplicateIds("jsonl:f"),
            beam.pvalue.AsDict(first_positions_of_repeated_ids(accepted)),
        ).with_outputs(QUARANTINE, main="unique")
        assert_that(
            kept.unique | beam.Map(lambda r: r["position"]),
            equal_to(sorted(first.values())),
            label="FirstKept",
        )
        assert_that(
            kept[QUARANTINE] | beam.Map(lambda q: (q["position"], q["reason"], q["detail"])),
            equal_to(
                [
                    (
                        r["position"],
                        "duplicate_id",
                        f"the id {shown(r[F.ID_KEY])} is first at {first[r[F.ID_KEY]]}",
                    )
                    for r in records
                    if r["position"] != first[r[F.ID_KEY]]
                ]
            ),
            label="RestQuarantined",
        )

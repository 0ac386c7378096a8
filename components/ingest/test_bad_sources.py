"""Ingest on broken sources: every record read is written or quarantined with its reason.

The probes of issue 18: a hidden corrupted csv, an unbalanced quote, Unicode line breaks inside
records, lines that crashed the parsers, bad headers, links in an archive or folder, a path
with glob characters; and the data contract's property over any record.
"""

import json
import os
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.common import features as F
from components.common.artifacts import COUNTS_FILE
from components.common.config import ConfigError, IngestConfig, SeriesConfig
from components.common.tasks import FORECAST, SENTIMENT
from components.conftest import write_aclimdb
from components.ingest.forecast import check_csv_columns
from components.ingest.ingest import run_ingest
from components.ingest.sentiment import check_delimited_headers, validate
from components.ingest.test_ingest import read_examples, read_quarantine

CONTRACT_REASONS = {
    "missing_text",
    "invalid_unicode",
    "text_not_a_string",
    "text_too_long",
    "not_utf8",
    "empty_text",
    "unknown_label",
    "unknown_split",
}


def written_texts(output: str) -> list[str]:
    return sorted(e[F.TEXT_KEY] for split in F.SPLITS for e in read_examples(output, split))


def assert_reconciles(counts: dict, output: str) -> None:
    written = sum(counts["written"].values())
    assert counts["read"] == written + counts["quarantined"] + counts["not_sampled"]
    quarantined = read_quarantine(output)
    assert len(quarantined) == counts["quarantined"]
    assert all(q["reason"] and q["detail"] for q in quarantined)


def test_a_corrupted_csv_quarantines_each_bad_record_and_keeps_every_good_one(tmp_path):
    good = [
        (f"good review number {i}, with a comma", i % 2, "train" if i % 5 else "test")
        for i in range(600)
    ]
    lines = ["text,label,split"] + [f'"{t}",{label},{split}' for t, label, split in good]
    huge = "y" * 1_250_000  # Past Python's csv field limit of 131,072.
    bad = [
        ('"an unbalanced quote,1,train', "bad_csv_quoting"),
        ('"closed" then text,1,train', "bad_csv_quoting"),
        ("too,many,fields,here", "wrong_field_count"),
        (f"{huge},1,train", "text_too_long"),
        ("   ,1,train", "empty_text"),
        ("no label,,train", "unknown_label"),
        ("unknown split,1,holdout", "unknown_split"),
    ] * 3
    for i, (line, _) in enumerate(bad):
        lines.insert(1 + i * 28, line)
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    output = str(tmp_path / "out")
    config = IngestConfig(source=f"csv:{path}", max_quarantine_fraction=0.05)
    counts = run_ingest(SENTIMENT, config, output)
    assert counts["read"] == 621 and counts["quarantined"] == 21
    expected = {}
    for _, reason in sorted(bad, key=lambda line_reason: line_reason[1]):
        expected[reason] = expected.get(reason, 0) + 1
    assert counts["quarantine_reasons"] == expected
    assert written_texts(output) == sorted(t for t, _, _ in good)
    assert_reconciles(counts, output)

    # Under the limit, the same 1.25 MB review is an example like any other.
    roomy = IngestConfig(
        source=f"csv:{path}", max_quarantine_fraction=0.05, max_text_bytes=2_000_000
    )
    counts = run_ingest(SENTIMENT, roomy, str(tmp_path / "roomy"))
    assert "text_too_long" not in counts["quarantine_reasons"]
    assert huge in written_texts(str(tmp_path / "roomy"))


def test_unicode_line_breaks_inside_records_neither_split_nor_invent_records(tmp_path):
    text = "great film\u2028wonderful acting\x85really\x0cbrilliant"
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.csv").write_text(f"text,label\n{text},1\nplain,0\n", encoding="utf-8")
    rows = [{"text": f"{text} {i}", "label": i % 2} for i in range(91)]
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps(dict(row, split="train" if i % 3 else "test"), ensure_ascii=False) + "\n"
            for i, row in enumerate(rows)
        ),
        encoding="utf-8",
    )
    (folder / "test.csv").write_text(f"text,label\n{text} test,0\n", encoding="utf-8")
    counts = run_ingest(SENTIMENT, IngestConfig(source=f"csv:{folder}"), str(tmp_path / "csv"))
    assert counts["read"] == 3 and counts["quarantined"] == 0
    assert text in written_texts(str(tmp_path / "csv"))
    counts = run_ingest(SENTIMENT, IngestConfig(source=f"jsonl:{jsonl}"), str(tmp_path / "jsonl"))
    assert counts["read"] == 91 and counts["quarantined"] == 0


def test_jsonl_lines_that_crashed_ingest_are_quarantined_with_their_reason(tmp_path):
    good = [
        json.dumps({"text": f"review {i}", "label": i % 2, "split": "train" if i % 4 else "test"})
        for i in range(40)
    ]
    bad = {
        '{"text": ' + "[" * 10_000 + "]" * 10_000 + ', "label": 1, "split": "train"}': (
            "too_deeply_nested"
        ),
        '{"text": "x\\ud800", "label": 1, "split": "train"}': "invalid_unicode",
        '{"text": "fine", "label": "\\ud800", "split": "train"}': "invalid_unicode",
        '{"text": 42, "label": 1, "split": "train"}': "text_not_a_string",
        '{"text": ["a"], "label": 1, "split": "train"}': "text_not_a_string",
        '["text", 1]': "not_an_object",
        '{"text": "a", "text": "b", "label": 1, "split": "train"}': "duplicate_field",
        '{"text": "zero id", "label": 1, "split": "train", "id": 0}': "duplicate_id",
    }
    lines = ['{"text": "first zero", "label": 0, "split": "train", "id": 0}', *good, *bad]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(lines) + "\n")
    output = str(tmp_path / "out")
    counts = run_ingest(
        SENTIMENT, IngestConfig(source=f"jsonl:{path}", max_quarantine_fraction=0.5), output
    )
    expected = {}
    for reason in bad.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert counts["quarantine_reasons"] == dict(sorted(expected.items()))
    assert counts["read"] == 49
    assert_reconciles(counts, output)
    (duplicate,) = [q for q in read_quarantine(output) if q["reason"] == "duplicate_id"]
    assert duplicate["id"] == "0" and duplicate["detail"] == f"the id '0' is first at {path}:1"


@pytest.mark.parametrize(
    "header, message",
    [
        (
            "review,label,split",
            r"no column 'text' in the header of .*reviews.csv \(columns: "
            r"review, label, split\); --text-field names the column to read",
        ),
        ("text,label", r"no column 'split' in the header .*--split-field"),
        ("text,label,text,split", r"names the column 'text' more than once"),
        ('"text,label,split', r"the header of .* cannot be read"),
    ],
)
def test_a_header_without_the_columns_is_one_error_before_any_work(tmp_path, header, message):
    path = tmp_path / "reviews.csv"
    path.write_text(f"{header}\na film,1,train\n")
    config = IngestConfig(source=f"csv:{path}")
    with pytest.raises(ConfigError, match=message):
        check_delimited_headers(config)
    with pytest.raises(ConfigError, match=message):
        run_ingest(SENTIMENT, config, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_columns_ingest_does_not_read_are_reported(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = [f"review {i},{i % 2},{'train' if i % 3 else 'test'},{i},title {i}" for i in range(30)]
    path.write_text("text,label,split,id,title\n" + "\n".join(rows) + "\n")
    output = tmp_path / "out"
    counts = run_ingest(SENTIMENT, IngestConfig(source=f"csv:{path}"), str(output))
    assert counts["columns_not_read"] == {str(path): ["title"]}
    assert json.loads((output / COUNTS_FILE).read_text())["columns_not_read"] == {
        str(path): ["title"]
    }


def test_links_in_an_archive_or_folder_are_counted_never_followed(tmp_path):
    directory = write_aclimdb(tmp_path / "src", {"train": 6, "test": 4})
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the source folder")
    os.symlink(secret, directory / "train" / "pos" / "100_9.txt")
    inside = next((directory / "test" / "neg").glob("0_*.txt"))
    os.symlink(inside, directory / "test" / "neg" / "101_2.txt")
    archive = tmp_path / "aclImdb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname="aclImdb")
        hard = tarfile.TarInfo("aclImdb/train/neg/102_1.txt")
        hard.type, hard.linkname = tarfile.LNKTYPE, "aclImdb/train/neg/0_1.txt"
        tar.addfile(hard)
    config = {"max_quarantine_fraction": 0.5}
    folder_counts = run_ingest(
        SENTIMENT, IngestConfig(source=f"aclimdb:{directory}", **config), str(tmp_path / "dir")
    )
    # The link inside the folder is read; the one leading outside is quarantined.
    assert folder_counts["read"] == 22 and folder_counts["quarantine_reasons"] == {"link": 1}
    assert "outside the source folder" not in written_texts(str(tmp_path / "dir"))
    tar_counts = run_ingest(
        SENTIMENT, IngestConfig(source=f"aclimdb:{archive}", **config), str(tmp_path / "tar")
    )
    assert tar_counts["read"] == 23 and tar_counts["quarantine_reasons"] == {"link": 3}
    assert {q["detail"].split(" to ")[0] for q in read_quarantine(str(tmp_path / "tar"))} == {
        "a symbolic link",
        "a hard link",
    }


def test_a_source_path_with_glob_characters_is_a_name(tmp_path):
    folder = tmp_path / "reviews [2024] *"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\n" + "".join(f"t{i},1\n" for i in range(5)))
    (folder / "test.csv").write_text("text,label\nheld out,0\n")
    decoy = tmp_path / "reviews 2 x"  # What the name would match as a glob pattern.
    decoy.mkdir()
    (decoy / "train.csv").write_text("text,label\nwrong folder,1\n")
    counts = run_ingest(SENTIMENT, IngestConfig(source=f"csv:{folder}"), str(tmp_path / "out"))
    assert counts["read"] == 6
    assert "wrong folder" not in written_texts(str(tmp_path / "out"))


def test_the_forecast_csv_reader_survives_huge_fields_and_broken_quotes(tmp_path):
    rows = [f"2020-01-{day:02d},{day}.5" for day in range(1, 29)]
    rows.insert(5, '"2020-02-01,1.0')  # An unbalanced quote.
    rows.insert(9, "2020-02-02," + "9" * 1_250_000)  # Past Python's csv field limit.
    path = tmp_path / "prices.csv"
    path.write_text("Date,Close\n" + "\n".join(rows) + "\n")
    series = SeriesConfig()
    check_csv_columns(str(path), f"csv:{path}", series)
    config = IngestConfig(source=f"csv:{path}", max_quarantine_fraction=0.1)
    counts = run_ingest(FORECAST, config, str(tmp_path / "out"), series=series)
    assert counts["read"] == 30 and sum(counts["written"].values()) == 28
    # A number of 1.25 million digits is read whole; as a float it is infinite.
    assert counts["quarantine_reasons"] == {"bad_csv_quoting": 1, "non_numeric_value": 1}


RAW_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters() | st.characters(categories=["Cs"]))
    | st.binary(max_size=20)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)


@settings(max_examples=300, deadline=None)
@given(text=RAW_VALUES, label=RAW_VALUES, split=RAW_VALUES, limit=st.integers(1, 40))
def test_the_data_contract_accepts_or_names_a_reason_for_any_record(text, label, split, limit):
    record = {
        F.TEXT_KEY: text,
        F.LABEL_KEY: label,
        "split": split,
        "position": "f:1",
        F.ID_KEY: "i",
    }
    example, reason, detail = validate(record, limit)
    if example is None:
        assert reason in CONTRACT_REASONS and detail and "\n" not in detail
    else:
        assert not reason and isinstance(example[F.TEXT_KEY], str) and example[F.TEXT_KEY].strip()
        assert len(example[F.TEXT_KEY].encode("utf-8")) <= limit
        assert example[F.LABEL_KEY] in (0, 1) and example["split"] in F.SOURCE_SPLITS

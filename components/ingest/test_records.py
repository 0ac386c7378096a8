"""The csv and jsonl readers: fixed probes, and properties over generated files.

The properties hold for every file: no exception but HeaderError, each physical record comes out
once (the records' line spans cover every line that is not blank, without overlap), each
rejected record names a known reason, and accepted fields are exactly what was written.
"""

import csv
import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.ingest.records import (
    BAD_CSV_QUOTING,
    DUPLICATE_FIELD,
    INVALID_JSON,
    INVALID_UNICODE,
    NOT_AN_OBJECT,
    NOT_UTF8,
    READER_REASONS,
    TOO_DEEPLY_NESTED,
    WRONG_FIELD_COUNT,
    HeaderError,
    check_columns,
    read_csv,
    read_jsonl,
)

# Each property runs well under a few seconds on a loaded 2-core machine; no deadline, since
# tests are never timed.
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that split records or fields somewhere: quotes, separators, every Unicode line and
# paragraph break (which str.splitlines() splits at), NUL, a byte-order mark, and plain text.
BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SPECIAL = '",;\t ' + BREAKS + "\x00\ufeff"
TEXT = st.text(st.sampled_from(SPECIAL) | st.characters(codec="utf-8"), max_size=40)
LINE_TEXT = st.text(
    st.sampled_from(SPECIAL.replace("\n", "").replace("\r", ""))
    | st.characters(codec="utf-8", exclude_characters="\r\n"),
    max_size=40,
)
LABEL = st.sampled_from(["0", "1", "pos", "neg"])


def csv_bytes(rows: list[list[str]], header=("text", "label"), **format_options) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, **format_options)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def physical_lines(data: bytes, old_mac: bool) -> list[bytes]:
    """The file's lines as the readers define them: csv files of old Mac line endings (a
    carriage return within the first line) split at carriage returns, all else at line feeds."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    first = data.split(b"\n", 1)[0]
    separator = b"\r" if old_mac and b"\r" in first.removesuffix(b"\r") else b"\n"
    lines = data.split(separator)
    return lines[:-1] if lines[-1] == b"" else lines


def assert_every_line_accounted_for(data: bytes, records, header_lines: int = 0) -> None:
    """Spans in order, without overlap; the lines outside every span are blank.

    `header_lines` (csv) are the header's; a jsonl file has none.
    """
    lines = physical_lines(data, old_mac=header_lines > 0)
    covered = set(range(1, header_lines + 1))
    previous_last = header_lines
    for record in records:
        assert previous_last < record.first_line <= record.last_line <= len(lines)
        covered.update(range(record.first_line, record.last_line + 1))
        previous_last = record.last_line
        assert (record.fields is None) == bool(record.reason)
        if record.reason:
            assert record.reason in READER_REASONS and record.detail
            assert "\n" not in record.detail and "\r" not in record.detail
    uncovered = set(range(1, len(lines) + 1)) - covered
    assert all(not lines[n - 1].strip(b" \t\r\n") for n in uncovered)


def read_all_csv(data: bytes):
    columns, records = read_csv(io.BytesIO(data), "f.csv")
    return columns, list(records)


# ---- csv: properties ----


@PROPERTY
@given(
    rows=st.lists(st.tuples(TEXT, TEXT, LABEL), max_size=12),
    line_ending=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    bom=st.booleans(),
)
def test_csv_written_by_pythons_csv_module_reads_back_exactly(rows, line_ending, quoting, bom):
    # The label last: csv.writer leaves a carriage return unquoted when lines end in "\n",
    # so a field ending in one is ambiguous as the last of a row.
    data = csv_bytes(
        [list(row) for row in rows],
        header=("text", "note", "label"),
        lineterminator=line_ending,
        quoting=quoting,
    )
    data = b"\xef\xbb\xbf" + data if bom else data
    columns, records = read_all_csv(data)
    assert columns == ("text", "note", "label")
    assert [r.fields for r in records] == [
        {"text": text, "note": note, "label": label} for text, note, label in rows
    ]
    assert_every_line_accounted_for(data, records, header_lines=1)


BROKEN_LINES = {
    '"unclosed quote,1': BAD_CSV_QUOTING,
    '"closed" then text,1': BAD_CSV_QUOTING,
    'a quote" inside,1': BAD_CSV_QUOTING,
    "one field only": WRONG_FIELD_COUNT,
    "three,fields,1": WRONG_FIELD_COUNT,
}


@PROPERTY
@given(
    texts=st.lists(LINE_TEXT, min_size=1, max_size=15),
    broken=st.sampled_from([*BROKEN_LINES, "bad byte \udcff,1"]),
    at=st.integers(min_value=0),
)
def test_one_broken_csv_line_is_the_only_one_rejected(texts, broken, at):
    """A stray quote never swallows, merges or splits the rows after it."""
    rows = [[text, str(i % 2)] for i, text in enumerate(texts)]
    good = csv_bytes(rows).split(b"\n")[:-1]
    at = 1 + at % len(good)  # After the header.
    line = broken.encode("utf-8", "surrogateescape")
    data = b"\n".join([*good[:at], line, *good[at:]]) + b"\n"
    _, records = read_all_csv(data)
    rejected = [r for r in records if r.reason]
    assert [(r.first_line, r.reason) for r in rejected] == [
        (at + 1, BROKEN_LINES.get(broken, NOT_UTF8))
    ]
    accepted = [r.fields for r in records if not r.reason]
    assert accepted == [{"text": text, "label": label} for text, label in rows]
    assert_every_line_accounted_for(data, records, header_lines=1)


# Any byte, as a character that "surrogateescape" turns back into that byte (or its UTF-8).
ANY_BYTES = st.binary(max_size=3).map(lambda b: b.decode("latin-1"))
CSV_PIECES = st.sampled_from(['"', '""', ",", "\n", "\r\n", "\r", " ", "a", "é", "\u2028", "\x00"])


@PROPERTY
@given(pieces=st.lists(CSV_PIECES | ANY_BYTES, max_size=60))
def test_csv_of_any_bytes_never_crashes_and_accounts_for_every_line(pieces):
    data = b"text,label\n" + "".join(pieces).encode("utf-8", "surrogateescape")
    _, records = read_all_csv(data)
    assert_every_line_accounted_for(data, records, header_lines=1)


# ---- csv: probes ----


def test_a_field_past_pythons_csv_limit_is_read_whole():
    text = "x" * 1_250_000  # Python's csv module stops at 131,072 characters.
    data = csv_bytes([[text, "1"], ["short", "0"]])
    _, records = read_all_csv(data)
    assert [r.fields["text"] for r in records] == [text, "short"]


def test_an_unclosed_quote_rejects_its_line_and_reads_every_row_after_it():
    rows = [[f"row {i}", "1"] for i in range(259)]
    good = csv_bytes(rows).split(b"\n")
    data = b"\n".join([*good[:30], b'"a review whose quote never closes,1', *good[30:]])
    _, records = read_all_csv(data)
    assert len(records) == 260
    (rejected,) = [r for r in records if r.reason]
    assert rejected.position == "f.csv:31" and rejected.reason == BAD_CSV_QUOTING
    assert "opened on line 31 is not closed before the end of the file" in rejected.detail
    assert [r.fields["text"] for r in records if not r.reason] == [row[0] for row in rows]


def test_unicode_line_breaks_stay_inside_their_field():
    text = "great film\u2028wonderful acting\x85really\x0cbrilliant"
    data = b"text,label\n" + f"{text},1\n".encode()
    _, records = read_all_csv(data)
    assert [r.fields for r in records] == [{"text": text, "label": "1"}]


def test_a_quoted_field_over_several_lines_is_one_record_with_its_span():
    data = b'text,label\n"first line\n\nthird, and ""quoted""",1\nnext,0\n'
    _, records = read_all_csv(data)
    assert [(r.position, r.fields["text"]) for r in records] == [
        ("f.csv:2-4", 'first line\n\nthird, and "quoted"'),
        ("f.csv:5", "next"),
    ]


def test_old_mac_line_endings_split_at_carriage_returns():
    _, records = read_all_csv(b'text,label\rone,1\r"two\rlines",0\r')
    assert [(r.position, r.fields["text"]) for r in records] == [
        ("f.csv:2", "one"),
        ("f.csv:3-4", "two\rlines"),
    ]


def test_a_carriage_return_inside_a_line_feed_file_is_text():
    _, records = read_all_csv(b"text,label\r\nnot\ra break,1\r\n")
    assert [r.fields for r in records] == [{"text": "not\ra break", "label": "1"}]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "f.csv has no header line: the file is empty"),
        (b"\n  \n", "f.csv has no header line"),
        (b'"text,label\nx,1\n', r"the header of f.csv \(line 1\) cannot be read: the quoted"),
        (b"text,label,text\nx,1,y\n", r"names the column 'text' more than once \(columns: text,"),
    ],
)
def test_a_header_that_cannot_name_the_fields_is_one_error(data, message):
    with pytest.raises(HeaderError, match=message):
        read_csv(io.BytesIO(data), "f.csv")


def test_missing_columns_are_named_with_the_header_and_the_option():
    columns, _ = read_csv(io.BytesIO(b"review,sentiment\nx,1\n"), "f.csv")
    check_columns(columns, "f.csv", {"--text-field": "review"})
    with pytest.raises(HeaderError) as error:
        check_columns(columns, "f.csv", {"--text-field": "review", "--label-field": "label"})
    assert str(error.value) == (
        "no column 'label' in the header of f.csv (columns: review, sentiment); "
        "--label-field names the column to read"
    )


def test_undecodable_bytes_reject_only_their_record():
    _, records = read_all_csv("text,label\ncafé,1\n".encode("cp1252") + b"fine,0\n")
    assert [(r.reason, r.detail) for r in records] == [
        (NOT_UTF8, "line 2: byte 0xe9 at byte 4 of the line is not UTF-8"),
        ("", ""),
    ]


# ---- jsonl ----


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
JSON_VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(TEXT, SCALARS, max_size=3)


@PROPERTY
@given(
    objects=st.lists(st.dictionaries(TEXT, JSON_VALUES, max_size=4), max_size=10),
    ensure_ascii=st.booleans(),
    line_ending=st.sampled_from(["\n", "\r\n"]),
    blank_lines=st.lists(st.sampled_from(["", " ", "\t \r"]), max_size=3),
)
def test_jsonl_objects_read_back_exactly(objects, ensure_ascii, line_ending, blank_lines):
    lines = [json.dumps(o, ensure_ascii=ensure_ascii) for o in objects] + blank_lines
    data = "".join(line + line_ending for line in lines).encode("utf-8")
    records = list(read_jsonl(io.BytesIO(data), "f.jsonl"))
    assert [r.fields for r in records] == objects
    assert [r.first_line for r in records] == list(range(1, len(objects) + 1))
    assert_every_line_accounted_for(data, records)


JSON_PIECES = st.sampled_from(
    [
        '{"text": "',
        '"',
        "}",
        "{",
        "[",
        "]",
        ":",
        ",",
        "\\",
        "\\u",
        "d800",
        "\n",
        "\r",
        " ",
        "1e999",
        "\u2028",
        "\x85",
        "\x00",
        "null",
        '"text"',
    ]
)


@PROPERTY
@given(pieces=st.lists(JSON_PIECES | ANY_BYTES, max_size=60))
def test_jsonl_of_any_bytes_never_crashes_and_accounts_for_every_line(pieces):
    data = "".join(pieces).encode("utf-8", "surrogateescape")
    records = list(read_jsonl(io.BytesIO(data), "f.jsonl"))
    assert_every_line_accounted_for(data, records)


@pytest.mark.parametrize(
    "line, reason, detail",
    [
        (b"{not json", INVALID_JSON, "Expecting property name enclosed in double quotes at col"),
        (b'{"text": "a"} {"text": "b"}', INVALID_JSON, "Extra data at column 15"),
        (b'{"text": "raw\ttab"}', INVALID_JSON, "Invalid control character"),
        (b'{"label": 1' + b"0" * 5000 + b"}", INVALID_JSON, "Exceeds the limit (4300 digits)"),
        (b'["text", 1]', NOT_AN_OBJECT, "the line holds an array, not an object"),
        (b'"text"', NOT_AN_OBJECT, "the line holds a string, not an object"),
        (b"3.5", NOT_AN_OBJECT, "the line holds a number, not an object"),
        (b"null", NOT_AN_OBJECT, "the line holds null, not an object"),
        (b'{"text": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", TOO_DEEPLY_NESTED, "nested"),
        (b'{"text": "a", "text": "b"}', DUPLICATE_FIELD, "names the field 'text' twice"),
        (b'{"text": "x\\ud800"}', INVALID_UNICODE, "the field 'text' escapes a lone UTF-16"),
        (b'{"label": "\\udfff", "text": "a"}', INVALID_UNICODE, "the field 'label'"),
        (b'{"text": "caf\xe9"}', NOT_UTF8, "byte 0xe9 at byte 14 of the line is not UTF-8"),
    ],
)
def test_each_kind_of_bad_jsonl_line_names_its_reason(line, reason, detail):
    data = b'{"text": "fine"}\n' + line + b'\n{"text": "also fine"}\n'
    records = list(read_jsonl(io.BytesIO(data), "f.jsonl"))
    assert [r.fields for r in records] == [{"text": "fine"}, None, {"text": "also fine"}]
    assert records[1].position == "f.jsonl:2" and records[1].reason == reason
    assert detail in records[1].detail


def test_jsonl_strings_keep_every_unicode_line_break_and_surrogate_pairs():
    text = "great film\u2028wonderful\u2029acting\x85really\x0c\x0b\x1c\x00 😀"
    data = json.dumps({"text": text}) + "\n" + json.dumps({"text": text}, ensure_ascii=False)
    records = list(read_jsonl(io.BytesIO(data.encode()), "f.jsonl"))
    assert [r.fields["text"] for r in records] == [text, text]


def test_a_ten_megabyte_jsonl_line_is_one_record():
    text = "y" * 10_000_000
    records = list(read_jsonl(io.BytesIO(json.dumps({"text": text}).encode()), "f.jsonl"))
    assert records[0].fields["text"] == text


def test_the_detail_is_one_short_line_whatever_the_input():
    broken = '"' + "a\u2028b\n" * 50
    _, records = read_all_csv(b"text,label\n" + ("x,1\n" + '"q" ' + broken).encode())
    for record in records:
        assert len(record.detail) < 200 and not re.search(r"[\n\r]", record.detail)

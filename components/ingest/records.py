"""Readers that split csv and jsonl files into physical records, each accepted or rejected.

Every physical record of a file comes out exactly once, as a `Record` holding either its fields
or the reason (a code below) and a one-line detail of why it cannot be read, so what a file
holds always reconciles: records = accepted + rejected, and the line spans of the records cover
every line of the file that is not blank. No exception escapes for a bad record and no size
limit applies: a field is as long as the file says (length limits belong to whoever uses the
field). The only errors raised are `HeaderError`, for a csv header that cannot name the fields.

Records are split by each format's own rules, never by `str.splitlines()`, which also breaks at
U+2028, U+0085, form feeds and other characters that are legal inside csv fields and JSON
strings: a jsonl record is one line ending in a line feed; a csv record ends at a line feed
outside quotes (see `read_csv` for what happens when quotes do not balance). In either format a
carriage return before the line feed belongs to the line ending, a UTF-8 byte-order mark at the
start of the file is dropped, and a line holding only spaces, tabs or a carriage return is blank:
it separates nothing and holds no data, so it is no record.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Why a record is rejected.
NOT_UTF8 = "not_utf8"  # Bytes that are not UTF-8 (e.g. Windows-1252 text).
BAD_CSV_QUOTING = "bad_csv_quoting"  # Quotes that break RFC 4180; the record's end is unknown.
WRONG_FIELD_COUNT = "wrong_field_count"  # More or fewer fields than the header names.
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"  # Valid JSON, but an array, string, number, true/false or null.
TOO_DEEPLY_NESTED = "too_deeply_nested"  # Deeper than Python's parser can recurse.
DUPLICATE_FIELD = "duplicate_field"  # An object names one field twice: which one is meant?
INVALID_UNICODE = "invalid_unicode"  # A string escapes a lone surrogate ("\ud800"): no character.
READER_REASONS = (
    NOT_UTF8,
    BAD_CSV_QUOTING,
    WRONG_FIELD_COUNT,
    INVALID_JSON,
    NOT_AN_OBJECT,
    TOO_DEEPLY_NESTED,
    DUPLICATE_FIELD,
    INVALID_UNICODE,
)

_BOM = b"\xef\xbb\xbf"
_BLANK = " \t\r\n"
_DETAIL_CHARS = 80  # Enough of a bad snippet to find it; a detail stays one short line.
# A JSON escape of a UTF-16 surrogate: the only way a parsed string can hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class HeaderError(ValueError):
    """A csv file's header cannot name its fields: missing, unreadable, or naming one twice."""


@dataclass(frozen=True)
class Record:
    """One physical record: lines `first_line`..`last_line` (1-based) of the file at `path`.

    An accepted record has `fields` (for csv, the header's column names to the cells, as
    strings; for jsonl, the object); a rejected one has `fields` None, a `reason` code from
    this module and a one-line `detail`.
    """

    path: str
    first_line: int
    last_line: int
    fields: dict[str, Any] | None = None
    reason: str = ""
    detail: str = ""

    @property
    def position(self) -> str:
        """`path:line`, or `path:first-last` for a record over several lines."""
        if self.first_line == self.last_line:
            return f"{self.path}:{self.first_line}"
        return f"{self.path}:{self.first_line}-{self.last_line}"


def _snippet(text: str) -> str:
    """A short, one-line, printable excerpt of input for a detail."""
    return repr(text[:_DETAIL_CHARS]) + ("..." if len(text) > _DETAIL_CHARS else "")


def _undecodable(line: bytes) -> str | None:
    """Where `line` stops being UTF-8, for a detail, or None when it is all UTF-8."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"byte {line[error.start]:#04x} at byte {error.start + 1} of the line is not UTF-8"
    return None


def _without_bom(lines: Iterable[bytes]) -> Iterator[bytes]:
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        return
    yield first.removeprefix(_BOM)
    yield from lines


def _is_blank(line: str) -> bool:
    return not line.strip(_BLANK)


# ---- jsonl ----


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return value


def _lone_surrogate_field(value: dict) -> str | None:
    """The first field (by name, or whose value) holding a lone surrogate, or None."""
    for key, item in value.items():
        try:
            json.dumps([key, item], ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return key
    return None


def _jsonl_record(path: str, number: int, raw: bytes) -> Record:
    def rejected(reason: str, detail: str) -> Record:
        return Record(path, number, number, reason=reason, detail=detail)

    where = _undecodable(raw)
    if where:
        return rejected(NOT_UTF8, where)
    line = raw.decode("utf-8")
    try:
        value = json.loads(line, object_pairs_hook=_object_without_duplicates)
    except _DuplicateKey as error:
        return rejected(DUPLICATE_FIELD, f"the object names the field {error.args[0]!r} twice")
    except RecursionError:
        return rejected(TOO_DEEPLY_NESTED, "arrays or objects nested too deeply to parse")
    except json.JSONDecodeError as error:
        return rejected(INVALID_JSON, f"{error.msg} at column {error.colno}")
    except ValueError as error:  # An integer of more digits than Python converts.
        return rejected(INVALID_JSON, str(error).partition(":")[0])
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}
        return rejected(
            NOT_AN_OBJECT, f"the line holds {kind.get(type(value), 'a number')}, not an object"
        )
    if _SURROGATE_ESCAPE.search(line):
        try:
            key = _lone_surrogate_field(value)
        except RecursionError:
            return rejected(TOO_DEEPLY_NESTED, "arrays or objects nested too deeply to check")
        if key is not None:
            return rejected(
                INVALID_UNICODE,
                f"the field {key!r} escapes a lone UTF-16 surrogate, which names no character",
            )
    return Record(path, number, number, fields=value)


def read_jsonl(lines: Iterable[bytes], path: str) -> Iterator[Record]:
    """The records of a JSON Lines file, given as its lines of bytes (a binary file object).

    Each line ending in a line feed is one record: a JSON object (RFC 8259; a field named twice
    is rejected, as is a string that escapes a lone surrogate). A line feed inside a JSON string
    is always escaped, so a line feed ends a record wherever it is.
    """
    for number, raw in enumerate(_without_bom(lines), 1):
        if raw.strip(_BLANK.encode()):
            yield _jsonl_record(path, number, raw)


# ---- csv ----


class _BrokenQuoting(Exception):
    """The record cannot be parsed; `args[0]` says where and why."""


class _Lines:
    """A file's decoded lines by number, pulled from `source` as a record needs them.

    Lines before the record being read are released, so memory holds one record's lines
    (for a quote that never closes: the rest of the file).
    """

    def __init__(self, source: Iterator[str]):
        self._source, self._lines, self._first = source, [], 1

    def get(self, number: int) -> str | None:
        """Line `number` (1-based) with its line ending, or None past the end of the file."""
        while number - self._first >= len(self._lines):
            line = next(self._source, None)
            if line is None:
                return None
            self._lines.append(line)
        return self._lines[number - self._first]

    def release_before(self, number: int) -> None:
        del self._lines[: number - self._first]
        self._first = number


def _line_body_end(line: str, terminator: str) -> int:
    """Where the line's content ends: before its line ending, if it has one."""
    if terminator == "\n" and line.endswith("\r\n"):
        return len(line) - 2
    return len(line) - 1 if line.endswith(terminator) else len(line)


def _parse_csv_record(lines: _Lines, first: int, terminator: str) -> tuple[list[str], int]:
    """The fields of the RFC 4180 record starting at line `first`, and its last line number.

    Raises _BrokenQuoting where a quoted field is not closed before the end of the file, is
    followed by anything but a comma or the line ending, or an unquoted field holds a quote.
    """
    fields, number, position = [], first, 0
    line = lines.get(number)
    while True:
        body_end = _line_body_end(line, terminator)
        if line.startswith('"', position):
            parts, position = [], position + 1
            while True:
                quote = line.find('"', position)
                if quote < 0:
                    parts.append(line[position:])
                    number += 1
                    line = lines.get(number)
                    if line is None:
                        raise _BrokenQuoting(
                            f"the quoted field {len(fields) + 1} opened on line {first} is not "
                            "closed before the end of the file"
                        )
                    position = 0
                    continue
                parts.append(line[position:quote])
                if line.startswith('"', quote + 1):
                    parts.append('"')
                    position = quote + 2
                    continue
                position = quote + 1
                break
            fields.append("".join(parts))
            body_end = _line_body_end(line, terminator)
            if position >= body_end:
                return fields, number
            if line[position] != ",":
                raise _BrokenQuoting(
                    f"{_snippet(line[position:body_end])} follows the closing quote of field "
                    f"{len(fields)} on line {number}"
                )
            position += 1
            continue
        comma = line.find(",", position, body_end)
        value = line[position : body_end if comma < 0 else comma]
        if '"' in value:
            raise _BrokenQuoting(
                f"field {len(fields) + 1} on line {number} holds a quote but is not quoted: "
                f"{_snippet(value)}"
            )
        fields.append(value)
        if comma < 0:
            return fields, number
        position = comma + 1


def _decoded_lines(lines: Iterable[bytes]) -> tuple[Iterator[tuple[str, str | None]], str]:
    """(text, where it is not UTF-8 or None) per line, and the line ending the file uses.

    Undecodable bytes become lone surrogates so the line can still be split into fields. A file
    whose first line holds a carriage return before its end has old Mac line endings (a
    carriage return alone): it has no line feed, so it arrives as one item and is split here.
    """
    lines = _without_bom(lines)
    first = next(lines, b"")
    terminator = "\n"
    if b"\r" in first.removesuffix(b"\r\n").removesuffix(b"\n"):
        lines = iter(re.split(b"(?<=\r)", first + b"".join(lines)))
        terminator = "\r"
    else:
        lines = itertools.chain([first], lines)
    decoded = (
        (line.decode("utf-8", "surrogateescape"), _undecodable(line)) for line in lines if line
    )
    return decoded, terminator


def _csv_records(
    lines: Iterable[bytes], path: str
) -> Iterator[tuple[int, int, list[str] | None, str, str]]:
    """(first line, last line, fields or None, reason, detail) per physical csv record."""
    decoded, terminator = _decoded_lines(lines)
    not_utf8 = {}  # Line number -> where it is not UTF-8, for the lines held.
    numbered = _Lines(_note_undecodable(decoded, not_utf8))
    number = 1
    while (line := numbered.get(number)) is not None:
        if _is_blank(line):
            number += 1
            continue
        try:
            fields, last = _parse_csv_record(numbered, number, terminator)
        except _BrokenQuoting as error:
            # Where a record ends is unknown, so only its first line is rejected and reading
            # resumes on the next line: the lines a stray quote would swallow are read again.
            yield number, number, None, BAD_CSV_QUOTING, str(error.args[0])
            last = number
        else:
            bad = [n for n in range(number, last + 1) if n in not_utf8]
            if bad:
                yield number, last, None, NOT_UTF8, f"line {bad[0]}: {not_utf8[bad[0]]}"
            else:
                yield number, last, fields, "", ""
        for held in range(number, last + 1):
            not_utf8.pop(held, None)
        number = last + 1
        numbered.release_before(number)


def _note_undecodable(decoded, not_utf8: dict) -> Iterator[str]:
    for number, (text, where) in enumerate(decoded, 1):
        if where:
            not_utf8[number] = where
        yield text


def read_csv(lines: Iterable[bytes], path: str) -> tuple[tuple[str, ...], Iterator[Record]]:
    """The header of a csv file, given as its lines of bytes, and an iterator of its records.

    The header is the first record that is not blank; its names must be distinct. Every record
    after it must have as many fields as the header (else `wrong_field_count`). Records follow
    RFC 4180: a field holding a comma, quote or line break is quoted, its quotes doubled.

    A quote that breaks these rules (a quoted field never closed, text after a closing quote, a
    quote inside an unquoted field) leaves unknown where the record ends, since the stray quote
    may have opened a field that runs on over the following lines. Such a record's first line is
    rejected as `bad_csv_quoting` (the detail says where the parser found the break) and reading
    resumes on the next line, so the rows a stray quote would swallow are each read again:
    none is lost and none is merged into another.

    Raises:
        HeaderError: the file has no header, or its header is broken or names a column twice.
    """
    records = _csv_records(lines, path)
    try:
        first, last, header, reason, detail = next(records)
    except StopIteration:
        raise HeaderError(f"{path} has no header line: the file is empty") from None
    if header is None:
        raise HeaderError(f"the header of {path} (line {first}) cannot be read: {detail}")
    columns = tuple(header)
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise HeaderError(
            f"the header of {path} names the column {duplicates[0]!r} more than once "
            f"(columns: {', '.join(columns)})"
        )
    return columns, _csv_rows(records, path, columns)


def _csv_rows(records, path: str, columns: tuple[str, ...]) -> Iterator[Record]:
    for first, last, fields, reason, detail in records:
        if fields is not None and len(fields) != len(columns):
            reason = WRONG_FIELD_COUNT
            detail = f"{len(fields)} fields where the header has {len(columns)}"
            fields = None
        if fields is None:
            yield Record(path, first, last, reason=reason, detail=detail)
        else:
            yield Record(path, first, last, fields=dict(zip(columns, fields, strict=True)))


def check_columns(columns: tuple[str, ...], path: str, needed: Mapping[str, str]) -> None:
    """Raises HeaderError naming the first column in `needed` (option -> column) not in the header.

    The message names the option that chose the column, so a user sees what to change.
    """
    for option, column in needed.items():
        if column not in columns:
            raise HeaderError(
                f"no column {column!r} in the header of {path} (columns: {', '.join(columns)}); "
                f"{option} names the column to read"
            )
